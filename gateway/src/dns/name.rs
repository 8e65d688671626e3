//! One name kept resolved: its last good answer, the outcome of its latest lookups, and what
//! each reader takes from them. The refresher is the only writer; connections, the balancer
//! and the Control API read a swapped-in copy without locking.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::resolver::{LookupFailure, Resolved};
use super::Dns;

/// Where a name stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStatus {
    /// The first lookup has not finished: connections wait for it.
    Resolving,
    /// The answer is within its TTL.
    Resolved,
    /// The answer's TTL ran out and no newer one came yet (a refresh under way, or lookups
    /// failing within the grace period): it is still used.
    Stale,
    /// No usable answer: never resolved, or the last one is past its grace period. Its nodes
    /// are not picked.
    Failed,
}

impl NameStatus {
    /// `resolving`, `resolved`, `stale` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NameStatus::Resolving => "resolving",
            NameStatus::Resolved => "resolved",
            NameStatus::Stale => "stale",
            NameStatus::Failed => "failed",
        }
    }
}

/// A good answer and when it expires.
#[derive(Debug, Clone)]
struct Answer {
    addrs: Arc<[IpAddr]>,
    ttl: Duration,
    expires: Instant,
}

/// What the refresher last stored.
#[derive(Debug, Default)]
struct NameState {
    /// The last good answer.
    answer: Option<Answer>,
    /// Lookups finished so far.
    lookups: u64,
    /// Failed lookups since the last good one.
    failures: u64,
    /// The latest failure's text.
    last_error: Option<String>,
}

/// A host name kept resolved by its refresher while anyone holds it.
pub struct TrackedName {
    host: String,
    dns: Dns,
    state: ArcSwap<NameState>,
    /// Bumped after each lookup; connections waiting for the first answer watch it.
    lookups: watch::Sender<u64>,
    /// Which address the next connection starts with.
    rotor: AtomicUsize,
    started: AtomicBool,
    /// Stops the refresher once the last holder drops the name.
    stop: CancellationToken,
}

impl std::fmt::Debug for TrackedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedName")
            .field("host", &self.host)
            .field("state", &self.state.load())
            .finish_non_exhaustive()
    }
}

impl Drop for TrackedName {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TrackedName {
    pub(super) fn new(host: &str, dns: Dns) -> Self {
        TrackedName {
            host: host.to_owned(),
            dns,
            state: ArcSwap::from_pointee(NameState::default()),
            lookups: watch::channel(0).0,
            rotor: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            stop: CancellationToken::new(),
        }
    }

    /// The host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where the name stands at `now`.
    pub fn status(&self, now: Instant) -> NameStatus {
        let state = self.state.load();
        match &state.answer {
            Some(a) if now < a.expires => NameStatus::Resolved,
            Some(a) if now < a.expires + self.dns.settings().grace => NameStatus::Stale,
            Some(_) => NameStatus::Failed,
            None if state.lookups == 0 => NameStatus::Resolving,
            None => NameStatus::Failed,
        }
    }

    /// Whether connections may use the name now (it is not [`NameStatus::Failed`]).
    pub fn is_available(&self, now: Instant) -> bool {
        self.status(now) != NameStatus::Failed
    }

    /// The addresses to try, each call starting one further along the answer so connections
    /// spread over every address. Waits only for a name's first lookup; an error when the
    /// name has no usable answer.
    pub async fn addresses(self: &Arc<Self>) -> io::Result<Vec<IpAddr>> {
        self.dns.start_refresher(self);
        let mut lookups = self.lookups.subscribe();
        loop {
            let status = self.status(Instant::now());
            if status == NameStatus::Resolving {
                // The sender lives in `self`: `changed` ends with the next lookup.
                let _ = lookups.changed().await;
                continue;
            }
            let state = self.state.load();
            return match (&state.answer, status) {
                (Some(answer), NameStatus::Resolved | NameStatus::Stale) => {
                    Ok(self.rotated(&answer.addrs))
                }
                _ => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "dns {}: no usable answer ({})",
                        self.host,
                        state.last_error.as_deref().unwrap_or("expired")
                    ),
                )),
            };
        }
    }

    fn rotated(&self, addrs: &[IpAddr]) -> Vec<IpAddr> {
        let start = self.rotor.fetch_add(1, Ordering::Relaxed) % addrs.len().max(1);
        addrs[start..]
            .iter()
            .chain(&addrs[..start])
            .copied()
            .collect()
    }

    /// The Control API's view at `now`: addresses, applied TTL and seconds left.
    pub fn view(&self, now: Instant) -> model::control::DnsName {
        let state = self.state.load();
        let answer = state.answer.as_ref();
        model::control::DnsName {
            host: self.host.clone(),
            state: self.status(now).as_str().to_owned(),
            addresses: answer
                .map(|a| a.addrs.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            ttl: answer.map(|a| a.ttl.as_secs()),
            expires_in: answer.map(|a| {
                let left = a.expires.saturating_duration_since(now).as_secs_f64();
                (left * 10.0).round() / 10.0
            }),
            failures: state.failures,
            last_error: state.last_error.clone(),
        }
    }

    /// Whether the refresher still has to be started; true for one caller only.
    pub(super) fn claim_refresher(&self) -> bool {
        !self.started.load(Ordering::Acquire) && !self.started.swap(true, Ordering::AcqRel)
    }

    /// Cancelled when the last holder drops the name.
    pub(super) fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stores a good answer; returns the addresses it replaces, if any.
    pub(super) fn record_answer(&self, resolved: &Resolved) -> Option<Arc<[IpAddr]>> {
        let old = self.state.load();
        let previous = old.answer.as_ref().map(|a| a.addrs.clone());
        self.state.store(Arc::new(NameState {
            answer: Some(Answer {
                addrs: resolved.addrs.clone(),
                ttl: resolved.ttl,
                expires: Instant::now() + resolved.ttl,
            }),
            lookups: old.lookups + 1,
            failures: 0,
            last_error: None,
        }));
        self.lookups.send_replace(old.lookups + 1);
        previous
    }

    /// Stores a failed lookup (the last good answer stays); returns the failures in a row.
    pub(super) fn record_failure(&self, failure: &LookupFailure) -> u64 {
        let old = self.state.load();
        let failures = old.failures + 1;
        self.state.store(Arc::new(NameState {
            answer: old.answer.clone(),
            lookups: old.lookups + 1,
            failures,
            last_error: Some(format!("{}: {}", failure.kind.as_str(), failure.message)),
        }));
        self.lookups.send_replace(old.lookups + 1);
        failures
    }
}
