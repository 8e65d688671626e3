//! The members of `deployment.etcd.host`, their health, and request failover between them.
//!
//! Each member has its own lazily connected gRPC channel (plain, or TLS through our rustls
//! connector). A request goes to the member that answered last; when it fails for a transport
//! reason (refused, reset, timed out) or a cluster reason (`no leader`, `leader changed`,
//! `too many requests`, `request timed out`), the member is skipped for
//! `deployment.etcd.health_check_timeout` and the request moves to the next member, all within
//! `deployment.etcd.timeout`. Skipped members are still tried, last, when no other member
//! answers: so a cluster that comes back after losing its quorum is used at once (APISIX's
//! client answers "has no healthy etcd endpoint available" until the skip expires). A full
//! pass in which every member failed is repeated after a short pause until the timeout, which
//! rides out a leader election.
//!
//! Requests carry etcd's `hasleader` metadata (require leader): a member cut off from its
//! peers refuses at once instead of serving stale reads or holding a watch that never fires.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};
use tokio::sync::OnceCell;

use super::tls::{self, EtcdTlsConnector};
use crate::store::StoreError;

/// The pause between two passes over the members when every member failed.
const FIRST_PASS_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between two passes.
const MAX_PASS_PAUSE: Duration = Duration::from_millis(500);
/// The shortest time one attempt on one member is given.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);
/// The longest: a member that holds a request longer is left for the next one (a request
/// forwarded to a leader that just died waits in etcd for seconds before it fails).
const MAX_ATTEMPT: Duration = Duration::from_secs(5);

/// One etcd member.
struct Member {
    /// The `deployment.etcd.host` entry.
    endpoint: String,
    /// The TLS connector for this member alone (`https://` hosts).
    tls: Option<EtcdTlsConnector>,
    /// The client, connected on first use.
    client: OnceCell<Client>,
    /// While set and in the future, the member is tried only after every other one.
    skip_until: Mutex<Option<Instant>>,
}

impl Member {
    fn skipped(&self, now: Instant) -> bool {
        self.skip_until
            .lock()
            .expect("the skip lock is never poisoned")
            .is_some_and(|until| until > now)
    }

    /// Marks a failure; true when the member was healthy until now.
    fn mark_failed(&self, skip_for: Duration) -> bool {
        let mut skip = self
            .skip_until
            .lock()
            .expect("the skip lock is never poisoned");
        let was_healthy = skip.is_none();
        *skip = Some(Instant::now() + skip_for);
        was_healthy
    }

    /// Marks a success; true when the member had failed before.
    fn mark_answered(&self) -> bool {
        self.skip_until
            .lock()
            .expect("the skip lock is never poisoned")
            .take()
            .is_some()
    }
}

/// What a successful request tells besides its value.
#[derive(Debug)]
pub(super) struct Served<T> {
    pub value: T,
    /// The member that answered (an index into the member list).
    pub member: usize,
    /// Whether an earlier attempt of this request failed after it may have reached etcd, so
    /// that a write may already have been applied once.
    pub retried: bool,
}

/// Why a request failed.
#[derive(Debug)]
pub(super) struct Failure {
    pub error: StoreError,
    /// True when no member answered at all (transport or cluster failures only): the store is
    /// unreachable. False when a member answered with an error of the request itself.
    pub unreachable: bool,
}

/// The member list with its health table.
pub(super) struct Members {
    members: Vec<Member>,
    options: ConnectOptions,
    /// The member that answered last: tried first.
    preferred: AtomicUsize,
    health_check_timeout: Duration,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|m| &m.endpoint))
            .finish()
    }
}

impl Members {
    /// The members of `endpoints`, with `tls` split per host when set.
    pub(super) fn new(
        endpoints: &[String],
        options: ConnectOptions,
        tls: Option<&EtcdTlsConnector>,
        health_check_timeout: Duration,
    ) -> Members {
        let members = endpoints
            .iter()
            .enumerate()
            .map(|(index, endpoint)| Member {
                endpoint: endpoint.clone(),
                tls: tls.map(|connector| connector.for_host(index)),
                client: OnceCell::new(),
                skip_until: Mutex::new(None),
            })
            .collect();
        Members {
            members,
            options: options.with_require_leader(true),
            preferred: AtomicUsize::new(0),
            health_check_timeout,
        }
    }

    /// The endpoint of member `index`.
    pub(super) fn endpoint(&self, index: usize) -> &str {
        &self.members[index].endpoint
    }

    /// The members in the order to try them: from the preferred one on, healthy ones first,
    /// then the skipped ones.
    fn order(&self) -> Vec<usize> {
        let count = self.members.len();
        let start = self.preferred.load(Ordering::Relaxed) % count.max(1);
        let now = Instant::now();
        let (mut healthy, mut skipped): (Vec<usize>, Vec<usize>) = (0..count)
            .map(|i| (start + i) % count)
            .partition(|&i| !self.members[i].skipped(now));
        healthy.append(&mut skipped);
        healthy
    }

    /// Runs `call` on one member after another until one answers, within `total`.
    pub(super) async fn request<T, F, Fut>(
        &self,
        total: Duration,
        call: F,
    ) -> Result<Served<T>, Failure>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + total;
        // Room for more than one pass: a leader election can outlast one attempt per member.
        let passes = self.members.len() as u32 + 1;
        let per_attempt = (total / passes).clamp(MIN_ATTEMPT, MAX_ATTEMPT);
        let mut pause = FIRST_PASS_PAUSE;
        let mut retried = false;
        // The last failure of each member, for the error when none answers.
        let mut reasons: Vec<Option<String>> = vec![None; self.members.len()];
        loop {
            for index in self.order() {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(self.unreachable_after(total, &reasons));
                }
                match self.attempt(index, per_attempt.min(remaining), &call).await {
                    Ok(value) => {
                        self.answered(index);
                        return Ok(Served {
                            value,
                            member: index,
                            retried,
                        });
                    }
                    Err(Attempt::Rejected { error, unusable }) => {
                        // The member answered: the request itself failed. Refused
                        // credentials leave the store unusable all the same.
                        self.answered(index);
                        return Err(Failure {
                            error,
                            unreachable: unusable,
                        });
                    }
                    Err(Attempt::Failed {
                        reason,
                        maybe_applied,
                    }) => {
                        self.failed(index, &reason);
                        retried |= maybe_applied;
                        reasons[index] = Some(reason);
                    }
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.unreachable_after(total, &reasons));
            }
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(MAX_PASS_PAUSE);
        }
    }

    /// One attempt on member `index`, bounded by `limit`.
    async fn attempt<T, F, Fut>(
        &self,
        index: usize,
        limit: Duration,
        call: &F,
    ) -> Result<T, Attempt>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let started = Instant::now();
        let client = self.client(index, limit).await?;
        let remaining = limit
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        match tokio::time::timeout(remaining, call(client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(Attempt::classify(&err, self.explain(index))),
            Err(_) => Err(Attempt::Failed {
                reason: format!("etcd request timed out after {limit:?}"),
                maybe_applied: true,
            }),
        }
    }

    /// The connected client of member `index` (connecting on first use).
    async fn client(&self, index: usize, limit: Duration) -> Result<Client, Attempt> {
        let member = &self.members[index];
        let connect = member.client.get_or_try_init(|| async {
            let channel = match &member.tls {
                Some(connector) => tls::channel(connector.clone(), limit),
                None => plain_channel(&member.endpoint, limit),
            }
            .map_err(|error| Attempt::Rejected {
                error,
                unusable: true,
            })?;
            Client::from_channel(
                etcd_client::Channel::Tonic(channel),
                Some(self.options.clone()),
            )
            .await
            .map_err(|err| Attempt::classify(&err, self.explain(index)))
        });
        match tokio::time::timeout(limit, connect).await {
            Ok(Ok(client)) => Ok(client.clone()),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(Attempt::Failed {
                reason: format!("etcd connect timed out after {limit:?}"),
                maybe_applied: false,
            }),
        }
    }

    /// "No member answered", with each member's last failure: with one member, its error as
    /// etcd gave it; with several, `<endpoint>: <reason>` for each.
    fn unreachable_after(&self, total: Duration, reasons: &[Option<String>]) -> Failure {
        let tried: Vec<(usize, &String)> = reasons
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
            .collect();
        let text = match tried.as_slice() {
            [] => format!("etcd request timed out after {total:?}"),
            [(_, reason)] if self.members.len() == 1 => (*reason).clone(),
            _ => {
                let each: Vec<String> = tried
                    .iter()
                    .map(|(i, reason)| format!("{}: {reason}", self.members[*i].endpoint))
                    .collect();
                format!(
                    "no etcd member answered within {total:?}: {}",
                    each.join("; ")
                )
            }
        };
        Failure {
            error: StoreError::Unavailable(text),
            unreachable: true,
        }
    }

    /// The last TLS failure of member `index`, to add to its errors.
    fn explain(&self, index: usize) -> Option<String> {
        self.members[index]
            .tls
            .as_ref()
            .and_then(|t| t.last_error())
    }

    fn answered(&self, index: usize) {
        self.preferred.store(index, Ordering::Relaxed);
        if self.members[index].mark_answered() {
            tracing::info!(member = %self.members[index].endpoint, "etcd member answers again");
        }
    }

    /// Records that member `index` failed for `reason` (also used by the watch).
    pub(super) fn failed(&self, index: usize, reason: &str) {
        let member = &self.members[index];
        if member.mark_failed(self.health_check_timeout) {
            tracing::warn!(
                member = %member.endpoint,
                reason,
                skip_for = ?self.health_check_timeout,
                "etcd member failed; trying the other members first until \
                 deployment.etcd.health_check_timeout has passed"
            );
        } else {
            tracing::debug!(member = %member.endpoint, reason, "etcd member failed again");
        }
    }
}

/// The outcome of one failed attempt.
enum Attempt {
    /// Transport or cluster failure: try another member.
    Failed {
        reason: String,
        /// Whether the request may have reached etcd (a write may have been applied).
        maybe_applied: bool,
    },
    /// The member answered with an error of the request itself: report it.
    Rejected {
        error: StoreError,
        /// Whether the error makes every request fail (credentials refused, a bad host).
        unusable: bool,
    },
}

impl Attempt {
    /// Sorts an etcd client error into "try another member" or "the answer".
    fn classify(err: &etcd_client::Error, tls_cause: Option<String>) -> Attempt {
        let text = error_text(err);
        let text = match tls_cause {
            Some(cause) if !text.contains(&cause) => format!("{text}: {cause}"),
            _ => text,
        };
        match err {
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                Attempt::Failed {
                    reason: text,
                    maybe_applied: false,
                }
            }
            etcd_client::Error::GRpcStatus(status) => {
                match failover_reason(status.code(), status.message()) {
                    Some(maybe_applied) => Attempt::Failed {
                        reason: text,
                        maybe_applied,
                    },
                    None => Attempt::Rejected {
                        unusable: credentials_refused(status.code(), status.message()),
                        error: StoreError::Unavailable(text),
                    },
                }
            }
            _ => Attempt::Rejected {
                error: StoreError::Unavailable(text),
                unusable: true,
            },
        }
    }
}

/// Whether a gRPC status means "try another member", and if so whether the request may have
/// been applied. `None`: the answer stands.
fn failover_reason(code: tonic::Code, message: &str) -> Option<bool> {
    const NOT_APPLIED: &[&str] = &["no leader", "too many requests", "not capable"];
    const MAYBE_APPLIED: &[&str] = &[
        "leader changed",
        "request timed out",
        "server stopped",
        "connection reset",
        "broken pipe",
        "transport",
        "tcp connect",
        "connection refused",
        "h2 protocol",
        "stream closed",
    ];
    if NOT_APPLIED.iter().any(|m| message.contains(m)) {
        return Some(false);
    }
    if MAYBE_APPLIED.iter().any(|m| message.contains(m)) {
        return Some(!message.contains("tcp connect") && !message.contains("refused"));
    }
    match code {
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => Some(true),
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled | tonic::Code::Aborted => Some(true),
        tonic::Code::Unknown if message.is_empty() => Some(true),
        _ => None,
    }
}

/// Whether etcd refused the store's credentials (`deployment.etcd.user`/`password`, or a
/// client certificate's user): no request can succeed.
fn credentials_refused(code: tonic::Code, message: &str) -> bool {
    matches!(
        code,
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
    ) || message.contains("authentication failed")
}

/// The etcd error text (the gRPC message when there is one).
pub(super) fn error_text(err: &etcd_client::Error) -> String {
    match err {
        etcd_client::Error::GRpcStatus(status) if !status.message().is_empty() => {
            status.message().to_owned()
        }
        other => other.to_string(),
    }
}

/// A lazily connecting plain-text gRPC channel to `endpoint` (`http://host:port`, or a bare
/// `host:port`).
fn plain_channel(
    endpoint: &str,
    connect_timeout: Duration,
) -> Result<tonic::transport::Channel, StoreError> {
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| StoreError::Unavailable(format!("invalid etcd host {url:?}: {e}")))?;
    Ok(tls::with_member_settings(endpoint, connect_timeout).connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_and_transport_reasons_fail_over() {
        use tonic::Code;
        for (code, message, may_have_applied) in [
            (Code::Unavailable, "etcdserver: no leader", false),
            (
                Code::ResourceExhausted,
                "etcdserver: too many requests",
                false,
            ),
            (Code::Unavailable, "etcdserver: leader changed", true),
            (Code::Unavailable, "etcdserver: request timed out", true),
            (Code::Unavailable, "tcp connect error", false),
            (Code::Unknown, "connection reset by peer", true),
        ] {
            assert_eq!(
                failover_reason(code, message),
                Some(may_have_applied),
                "{message}"
            );
        }
    }

    #[test]
    fn request_errors_are_the_answer() {
        use tonic::Code;
        for (code, message) in [
            (Code::InvalidArgument, "etcdserver: key is not provided"),
            (Code::PermissionDenied, "etcdserver: permission denied"),
            (
                Code::FailedPrecondition,
                "etcdserver: requested lease not found",
            ),
            (
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
        ] {
            assert_eq!(failover_reason(code, message), None, "{message}");
        }
    }

    fn members(n: usize) -> Members {
        let endpoints: Vec<String> = (0..n)
            .map(|i| format!("http://127.0.0.1:{}", 1 + i))
            .collect();
        Members::new(
            &endpoints,
            ConnectOptions::new(),
            None,
            Duration::from_secs(10),
        )
    }

    #[test]
    fn the_preferred_member_comes_first_and_failed_ones_last() {
        let m = members(3);
        assert_eq!(m.order(), [0, 1, 2]);
        m.answered(1);
        assert_eq!(m.order(), [1, 2, 0]);
        m.failed(1, "refused");
        assert_eq!(m.order(), [2, 0, 1]);
        m.failed(2, "refused");
        assert_eq!(m.order(), [0, 1, 2]);
        m.answered(1);
        assert_eq!(m.order(), [1, 0, 2]);
    }

    #[test]
    fn a_skip_ends_after_health_check_timeout() {
        let endpoints = vec![
            "http://127.0.0.1:1".to_owned(),
            "http://127.0.0.1:2".to_owned(),
        ];
        let m = Members::new(&endpoints, ConnectOptions::new(), None, Duration::ZERO);
        m.failed(0, "refused");
        // A zero skip has already ended: the member is healthy again for ordering.
        assert_eq!(m.order(), [0, 1]);
    }

    #[tokio::test]
    async fn no_member_answering_is_unreachable_within_the_timeout() {
        // Two closed ports on loopback: refused at once, retried until the deadline.
        let closed: Vec<String> = (0..2)
            .map(|_| {
                let listener =
                    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
                format!("http://{}", listener.local_addr().expect("local addr"))
            })
            .collect();
        let m = Members::new(
            &closed,
            ConnectOptions::new(),
            None,
            Duration::from_secs(10),
        );
        let started = Instant::now();
        let result = m
            .request(Duration::from_millis(800), |mut c| async move {
                c.get("k", None).await
            })
            .await;
        let failure = result.expect_err("nothing listens");
        assert!(failure.unreachable);
        assert!(
            failure
                .error
                .to_string()
                .starts_with("no etcd member answered within"),
            "{}",
            failure.error
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
}
