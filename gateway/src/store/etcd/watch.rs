//! The etcd watch: a range read under the prefix ([`WatchEvent::Snapshot`]), then an etcd
//! watch from the next revision. Any failure (request error, stream end, cancellation, a
//! compacted start revision) ends that round; the task waits with backoff and starts over with
//! a fresh Snapshot, so the consumer converges after outages and compactions. The task ends
//! when the receiver is dropped.
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
    /// Something failed: resync after a pause.
    Lost(String),
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
    loop {
        let mut progress = Progress::default();
        match round(&store, &prefix, &tx, &mut progress, timings.watch_timeout).await {
            RoundEnd::Closed => return,
            RoundEnd::Lost(reason) => {
                ever_read |= progress.snapshot_sent;
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
            "etcd watch lost; keeping the current configuration and retrying until etcd answers"
        ),
        Report::Quiet => tracing::debug!(prefix, reason, "etcd watch failed; retrying"),
    }
}

/// How far one round got.
#[derive(Debug, Default)]
struct Progress {
    snapshot_sent: bool,
    watching: bool,
}

/// Reads a snapshot, sends it, then forwards watch events until something fails. A watch idle
/// for `watch_timeout` is re-created from the next revision within the round.
async fn round(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
    progress: &mut Progress,
    watch_timeout: Duration,
) -> RoundEnd {
    let (items, revision) = match crate::store::Store::list(store, prefix).await {
        Ok(listed) => listed,
        Err(err) => return RoundEnd::Lost(err.to_string()),
    };
    let count = items.len();
    if tx
        .send(WatchEvent::Snapshot { items, revision })
        .await
        .is_err()
    {
        return RoundEnd::Closed;
    }
    progress.snapshot_sent = true;
    tracing::debug!(prefix, revision, count, "etcd snapshot sent");

    let mut next_revision = revision + 1;
    loop {
        match watch_from(store, prefix, tx, progress, next_revision, watch_timeout).await {
            WatchEnd::IdleTimeout(next) => {
                tracing::debug!(
                    prefix,
                    revision = next,
                    "etcd watch idle for deployment.etcd.watch_timeout; re-creating it"
                );
                next_revision = next;
            }
            WatchEnd::Round(end) => return end,
        }
    }
}

/// How one watch stream ended.
enum WatchEnd {
    /// Nothing arrived for `watch_timeout`: watch again from this revision.
    IdleTimeout(i64),
    /// The round is over.
    Round(RoundEnd),
}

/// Watches from `start_revision`, forwarding events, until a failure or an idle timeout.
async fn watch_from(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
    progress: &mut Progress,
    start_revision: i64,
    watch_timeout: Duration,
) -> WatchEnd {
    let lost = |reason: String| WatchEnd::Round(RoundEnd::Lost(reason));
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(start_revision);
    let key = prefix.to_owned();
    let stream = store
        .request(|mut c| async move { c.watch(key, Some(options)).await })
        .await;
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(err) => return lost(err.to_string()),
    };
    progress.watching = true;
    let mut next_revision = start_revision;
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(watch_timeout, stream.message()) => message,
            _ = tx.closed() => return WatchEnd::Round(RoundEnd::Closed),
        };
        let resp = match message {
            Err(_) => return WatchEnd::IdleTimeout(next_revision),
            Ok(Ok(Some(resp))) => resp,
            Ok(Ok(None)) => {
                store.set_healthy(false);
                return lost("watch stream ended".into());
            }
            Ok(Err(err)) => {
                store.set_healthy(false);
                return lost(super::unavailable(&err).to_string());
            }
        };
        store.set_healthy(true);
        if resp.compact_revision() > 0 {
            return lost(format!(
                "required revision has been compacted (compact revision {})",
                resp.compact_revision()
            ));
        }
        if resp.canceled() {
            return lost(format!("watch canceled: {}", resp.cancel_reason()));
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            next_revision = next_revision.max(kv.mod_revision() + 1);
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
