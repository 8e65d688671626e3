//! The etcd watch: a range read under the prefix ([`WatchEvent::Snapshot`]), then an etcd
//! watch from the next revision. The task ends when the receiver is dropped.
//!
//! - A watch whose member fails (stream error or end, `no leader` for a member cut off from
//!   its peers) resumes at once on another member from the revision after the last event
//!   delivered: no event is missed or repeated.
//! - When no member can be watched, the task waits with backoff and resumes from that same
//!   revision once one answers.
//! - A start revision that was compacted away is the one case that re-reads the whole prefix
//!   (a fresh Snapshot), so the consumer converges after long outages too.
//!
//! `deployment.etcd` timings, with APISIX's meaning (`core/config_etcd.lua`, `cli/etcd.lua`):
//! - `watch_timeout`: a watch that delivered nothing for this long is cancelled and re-created
//!   from the same revision: an expected event, no resync and no delay.
//! - `resync_delay`: after a failure, the wait before the next attempt grows from 100 ms up to
//!   `resync_delay`, plus up to 50 % random jitter (APISIX: `delay + rand() * 0.5 * delay`).
//! - `startup_retry`: until the first snapshot was read, each of the first `startup_retry`
//!   failures is logged at error level; then one line says the gateway goes on retrying in the
//!   background and serves as soon as it can read, and further failures are debug-level.

use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use rand::Rng;
use tokio::sync::mpsc;

use super::{convert, EtcdStore};
use crate::config::EtcdConfig;
use crate::store::WatchEvent;

/// Capacity of the watcher's channel.
const WATCH_BUFFER: usize = 256;
/// First wait before reconnecting.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The `deployment.etcd` timings the watch follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Timings {
    /// `watch_timeout`.
    pub watch_timeout: Duration,
    /// `startup_retry` (at least 1).
    pub startup_retry: u32,
    /// `resync_delay` (at least [`MIN_BACKOFF`]).
    pub resync_delay: Duration,
}

impl Timings {
    pub(super) fn from_config(config: &EtcdConfig) -> Timings {
        Timings {
            watch_timeout: config.watch_timeout.max(Duration::from_millis(100)),
            startup_retry: config.startup_retry.max(1),
            resync_delay: config.resync_delay.max(MIN_BACKOFF),
        }
    }

    /// The backoff after `backoff`: doubled, at most `resync_delay`.
    fn next_backoff(&self, backoff: Duration) -> Duration {
        (backoff * 2).min(self.resync_delay)
    }
}

/// `base` plus a random 0–50 % (APISIX's `resync_delay + rand() * 0.5 * resync_delay`).
fn jittered(base: Duration) -> Duration {
    base.mul_f64(1.0 + rand::thread_rng().gen_range(0.0..0.5))
}

/// Starts the watch task for `prefix` and returns its events.
pub(super) fn start(store: EtcdStore, prefix: String) -> mpsc::Receiver<WatchEvent> {
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    tokio::spawn(run(store, prefix, tx));
    rx
}

/// Why one round of watching ended.
enum RoundEnd {
    /// The receiver went away: stop.
    Closed,
    /// No member could be watched: pause, then resume from the last revision seen.
    Lost(String),
    /// The revision to resume from was compacted away: re-read the whole prefix.
    Compacted(String),
}

/// How a failure is reported, given what happened before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// One of the first `startup_retry` failures before anything was read: error level.
    StartupAttempt(u32),
    /// The `startup_retry`-th failure: an error saying retries go on in the background.
    StartupGivingUp(u32),
    /// A watch that worked was lost: warn once.
    Lost,
    /// Repeated failures: debug.
    Quiet,
}

/// Chooses how to report failure number `failures` (1-based, since the last success).
fn report(ever_read: bool, failures: u32, startup_retry: u32) -> Report {
    if !ever_read {
        match failures.cmp(&startup_retry) {
            std::cmp::Ordering::Less => Report::StartupAttempt(failures),
            std::cmp::Ordering::Equal => Report::StartupGivingUp(failures),
            std::cmp::Ordering::Greater => Report::Quiet,
        }
    } else if failures == 1 {
        Report::Lost
    } else {
        Report::Quiet
    }
}

async fn run(store: EtcdStore, prefix: String, tx: mpsc::Sender<WatchEvent>) {
    let timings = store.inner.timings;
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u32;
    let mut ever_read = false;
    // The revision to resume from; `None` reads the whole prefix first.
    let mut resume: Option<i64> = None;
    loop {
        let mut progress = Progress::default();
        match round(
            &store,
            &prefix,
            &tx,
            &mut progress,
            resume,
            timings.watch_timeout,
        )
        .await
        {
            RoundEnd::Closed => return,
            RoundEnd::Compacted(reason) => {
                tracing::info!(
                    prefix,
                    reason,
                    "etcd watch start compacted; re-reading the prefix"
                );
                resume = None;
                continue;
            }
            RoundEnd::Lost(reason) => {
                ever_read |= progress.snapshot_sent;
                resume = progress.next_revision.or(resume);
                if progress.watching {
                    // It worked for a while: start over with short pauses and log the loss.
                    failures = 0;
                    backoff = MIN_BACKOFF;
                }
                failures = failures.saturating_add(1);
                let how = report(ever_read, failures, timings.startup_retry);
                log_failure(&store.inner.endpoints, &prefix, &reason, how);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(jittered(backoff)) => {}
            _ = tx.closed() => return,
        }
        backoff = timings.next_backoff(backoff);
    }
}

fn log_failure(endpoints: &[String], prefix: &str, reason: &str, report: Report) {
    match report {
        Report::StartupAttempt(n) => tracing::error!(
            ?endpoints,
            prefix,
            reason,
            attempt = n,
            "failed to read the configuration from etcd; retrying"
        ),
        Report::StartupGivingUp(n) => tracing::error!(
            ?endpoints,
            prefix,
            reason,
            attempts = n,
            "etcd still unreachable after deployment.etcd.startup_retry attempts; retrying in \
             the background: the configuration is served as soon as etcd can be read"
        ),
        Report::Lost => tracing::warn!(
            prefix,
            reason,
            "etcd watch lost on every member; keeping the current configuration and retrying \
             until etcd answers"
        ),
        Report::Quiet => tracing::debug!(prefix, reason, "etcd watch failed; retrying"),
    }
}

/// How far one round got.
#[derive(Debug, Default)]
struct Progress {
    snapshot_sent: bool,
    watching: bool,
    /// The revision after the last one delivered: where a new watch resumes.
    next_revision: Option<i64>,
}

/// Reads a snapshot and sends it (unless resuming), then forwards watch events. A watch idle
/// for `watch_timeout` is re-created from the next revision; a watch whose member failed is
/// re-created on another member from the next revision (no event missed or repeated).
async fn round(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
    progress: &mut Progress,
    resume: Option<i64>,
    watch_timeout: Duration,
) -> RoundEnd {
    let mut next_revision = match resume {
        Some(revision) => revision,
        None => match send_snapshot(store, prefix, tx).await {
            Ok(revision) => {
                progress.snapshot_sent = true;
                revision + 1
            }
            Err(end) => return end,
        },
    };
    progress.next_revision = Some(next_revision);
    // Streams that failed in a row without delivering anything: past one per member, every
    // member refuses and the round pauses.
    let mut barren_losses = 0usize;
    loop {
        match watch_from(store, prefix, tx, progress, next_revision, watch_timeout).await {
            WatchEnd::IdleTimeout(next) => {
                tracing::debug!(
                    prefix,
                    revision = next,
                    "etcd watch idle for deployment.etcd.watch_timeout; re-creating it"
                );
                next_revision = next;
                barren_losses = 0;
            }
            WatchEnd::MemberLost {
                member,
                reason,
                next,
                delivered,
            } => {
                store.inner.members.failed(member, &reason);
                barren_losses = if delivered { 0 } else { barren_losses + 1 };
                if barren_losses > store.inner.endpoints.len() {
                    return RoundEnd::Lost(reason);
                }
                tracing::info!(
                    prefix,
                    member = store.inner.members.endpoint(member),
                    reason,
                    revision = next,
                    "etcd watch moves to another member"
                );
                next_revision = next;
            }
            WatchEnd::Round(end) => return end,
        }
    }
}

/// Lists the prefix and sends it as a [`WatchEvent::Snapshot`]; returns its revision.
async fn send_snapshot(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
) -> Result<i64, RoundEnd> {
    let (items, revision) = crate::store::Store::list(store, prefix)
        .await
        .map_err(|err| RoundEnd::Lost(err.to_string()))?;
    let count = items.len();
    tx.send(WatchEvent::Snapshot { items, revision })
        .await
        .map_err(|_| RoundEnd::Closed)?;
    tracing::debug!(prefix, revision, count, "etcd snapshot sent");
    Ok(revision)
}

/// How one watch stream ended.
enum WatchEnd {
    /// Nothing arrived for `watch_timeout`: watch again from this revision.
    IdleTimeout(i64),
    /// The member serving the watch failed (stream error, stream end, `no leader`): watch
    /// again from `next` on another member.
    MemberLost {
        member: usize,
        reason: String,
        next: i64,
        /// Whether the stream delivered any answer before it failed.
        delivered: bool,
    },
    /// The round is over.
    Round(RoundEnd),
}

/// Watches from `start_revision` on the first member that answers, forwarding events, until
/// a failure or an idle timeout.
async fn watch_from(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
    progress: &mut Progress,
    start_revision: i64,
    watch_timeout: Duration,
) -> WatchEnd {
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(start_revision);
    let served = store
        .served(|mut c| {
            let options = options.clone();
            async move { c.watch(prefix, Some(options)).await }
        })
        .await;
    let (mut stream, member) = match served {
        Ok(served) => (served.value, served.member),
        Err(err) => return WatchEnd::Round(RoundEnd::Lost(err.to_string())),
    };
    progress.watching = true;
    let mut next_revision = start_revision;
    let mut delivered = false;
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(watch_timeout, stream.message()) => message,
            _ = tx.closed() => return WatchEnd::Round(RoundEnd::Closed),
        };
        let lost = move |reason: String| WatchEnd::MemberLost {
            member,
            reason,
            next: next_revision,
            delivered,
        };
        let resp = match message {
            Err(_) => return WatchEnd::IdleTimeout(next_revision),
            Ok(Ok(Some(resp))) => resp,
            Ok(Ok(None)) => return lost("watch stream ended".into()),
            Ok(Err(err)) => return lost(super::members::error_text(&err)),
        };
        delivered = true;
        store.set_healthy(true);
        if resp.compact_revision() > 0 {
            return WatchEnd::Round(RoundEnd::Compacted(format!(
                "required revision has been compacted (compact revision {})",
                resp.compact_revision()
            )));
        }
        if resp.canceled() {
            return lost(format!("watch canceled: {}", resp.cancel_reason()));
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            next_revision = next_revision.max(kv.mod_revision() + 1);
            progress.next_revision = Some(next_revision);
            store.saw_revision(kv.mod_revision());
            let out = match event.event_type() {
                EventType::Put => WatchEvent::Put(convert(kv)),
                EventType::Delete => WatchEvent::Delete {
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    revision: kv.mod_revision(),
                },
            };
            if tx.send(out).await.is_err() {
                return WatchEnd::Round(RoundEnd::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings(resync_secs: u64) -> Timings {
        Timings {
            watch_timeout: Duration::from_secs(50),
            startup_retry: 2,
            resync_delay: Duration::from_secs(resync_secs),
        }
    }

    #[test]
    fn backoff_doubles_up_to_resync_delay() {
        let t = timings(1);
        let mut backoff = MIN_BACKOFF;
        let mut seen = Vec::new();
        for _ in 0..6 {
            backoff = t.next_backoff(backoff);
            seen.push(backoff.as_millis());
        }
        assert_eq!(seen, [200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn jitter_adds_at_most_half() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(2) && d < Duration::from_secs(3),
                "{d:?}"
            );
        }
    }

    #[test]
    fn the_first_startup_retry_failures_are_errors_then_quiet() {
        let reports: Vec<Report> = (1..=4).map(|n| report(false, n, 3)).collect();
        assert_eq!(
            reports,
            [
                Report::StartupAttempt(1),
                Report::StartupAttempt(2),
                Report::StartupGivingUp(3),
                Report::Quiet
            ]
        );
        assert_eq!(report(true, 1, 3), Report::Lost);
        assert_eq!(report(true, 2, 3), Report::Quiet);
    }

    #[test]
    fn zero_or_tiny_settings_are_clamped() {
        let mut config = crate::config::Config::defaults(std::path::Path::new("/tmp")).etcd;
        config.startup_retry = 0;
        config.resync_delay = Duration::ZERO;
        let t = Timings::from_config(&config);
        assert_eq!(t.startup_retry, 1);
        assert_eq!(t.resync_delay, MIN_BACKOFF);
        assert_eq!(t.watch_timeout, Duration::from_secs(50));
    }
}
