//! The etcd watch: a range read under the prefix ([`WatchEvent::Snapshot`]), then an etcd
//! watch from the next revision. Any failure (request error, stream end, cancellation, a
//! compacted start revision) ends that round; the task waits with backoff and starts over with
//! a fresh Snapshot, so the consumer converges after outages and compactions. The task ends
//! when the receiver is dropped.

use std::time::Duration;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::mpsc;

use super::{convert, EtcdStore};
use crate::store::WatchEvent;

/// Capacity of the watcher's channel.
const WATCH_BUFFER: usize = 256;
/// First wait before reconnecting.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

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

async fn run(store: EtcdStore, prefix: String, tx: mpsc::Sender<WatchEvent>) {
    let mut backoff = MIN_BACKOFF;
    let mut waiting_logged = false;
    let mut ever_watched = false;
    loop {
        let mut progress = Progress::default();
        match round(&store, &prefix, &tx, &mut progress).await {
            RoundEnd::Closed => return,
            RoundEnd::Lost(reason) => {
                ever_watched |= progress.snapshot_sent;
                if progress.watching {
                    // It worked for a while: start over with short pauses and log the loss.
                    waiting_logged = false;
                    backoff = MIN_BACKOFF;
                }
                if waiting_logged {
                    tracing::debug!(prefix, reason, "etcd watch failed; retrying");
                } else if ever_watched {
                    tracing::warn!(
                        prefix,
                        reason,
                        "etcd watch lost; keeping the current configuration and retrying until etcd answers"
                    );
                } else {
                    tracing::warn!(
                        prefix,
                        reason,
                        "waiting for etcd: no configuration read yet; retrying until etcd answers"
                    );
                }
                waiting_logged = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = tx.closed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How far one round got.
#[derive(Debug, Default)]
struct Progress {
    snapshot_sent: bool,
    watching: bool,
}

/// Reads a snapshot, sends it, then forwards watch events until something fails.
async fn round(
    store: &EtcdStore,
    prefix: &str,
    tx: &mpsc::Sender<WatchEvent>,
    progress: &mut Progress,
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

    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let key = prefix.to_owned();
    let stream = store
        .request(|mut c| async move { c.watch(key, Some(options)).await })
        .await;
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(err) => return RoundEnd::Lost(err.to_string()),
    };
    progress.watching = true;
    loop {
        let message = tokio::select! {
            message = stream.message() => message,
            _ = tx.closed() => return RoundEnd::Closed,
        };
        let resp = match message {
            Ok(Some(resp)) => resp,
            Ok(None) => {
                store.set_healthy(false);
                return RoundEnd::Lost("watch stream ended".into());
            }
            Err(err) => {
                store.set_healthy(false);
                return RoundEnd::Lost(super::unavailable(&err).to_string());
            }
        };
        store.set_healthy(true);
        if resp.compact_revision() > 0 {
            return RoundEnd::Lost(format!(
                "required revision has been compacted (compact revision {})",
                resp.compact_revision()
            ));
        }
        if resp.canceled() {
            return RoundEnd::Lost(format!("watch canceled: {}", resp.cancel_reason()));
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let out = match event.event_type() {
                EventType::Put => WatchEvent::Put(convert(kv)),
                EventType::Delete => WatchEvent::Delete {
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    revision: kv.mod_revision(),
                },
            };
            if tx.send(out).await.is_err() {
                return RoundEnd::Closed;
            }
        }
    }
}
