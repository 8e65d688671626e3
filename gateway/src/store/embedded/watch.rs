//! Watchers: forward the store's broadcast of changes to one subscriber, filtered by prefix.
//!
//! The subscription to the broadcast is taken BEFORE the snapshot is read, and events at or
//! below the snapshot's revision are dropped, so the subscriber sees every change exactly once
//! and in order. If the subscriber falls so far behind that the broadcast drops events, it gets
//! a fresh snapshot instead. The task ends when the subscriber drops its receiver or the store
//! is dropped (the broadcast closes).

use std::sync::{Arc, Weak};

use tokio::sync::{broadcast, mpsc};

use super::db::{event_revision, Shared};
use crate::store::{StoreResult, WatchEvent};

/// Capacity of each watcher's channel.
#[cfg(not(test))]
const WATCH_BUFFER: usize = 256;
/// Small in tests, so that lagging is cheap to provoke.
#[cfg(test)]
const WATCH_BUFFER: usize = 8;

/// Subscribes, reads the snapshot and starts the forwarding task.
pub(super) async fn start(
    shared: &Arc<Shared>,
    prefix: &str,
) -> StoreResult<mpsc::Receiver<WatchEvent>> {
    let events = shared.subscribe();
    let (items, revision) = super::blocking(shared, {
        let prefix = prefix.to_string();
        move |s| s.list(&prefix)
    })
    .await?;
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    if tx
        .send(WatchEvent::Snapshot { items, revision })
        .await
        .is_err()
    {
        return Ok(rx);
    }
    tokio::spawn(forward(
        Arc::downgrade(shared),
        prefix.to_string(),
        events,
        tx,
        revision,
    ));
    Ok(rx)
}

async fn forward(
    shared: Weak<Shared>,
    prefix: String,
    mut events: broadcast::Receiver<WatchEvent>,
    tx: mpsc::Sender<WatchEvent>,
    mut seen: i64,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tx.closed() => return,
        };
        let out = match event {
            Ok(event) => {
                let revision = event_revision(&event);
                if revision <= seen || !event_key(&event).is_some_and(|k| k.starts_with(&prefix)) {
                    continue;
                }
                seen = revision;
                event
            }
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::debug!(prefix, skipped, "watcher lagged; sending a fresh snapshot");
                let Some(strong) = shared.upgrade() else {
                    return;
                };
                let listed = super::blocking(&strong, {
                    let prefix = prefix.clone();
                    move |s| s.list(&prefix)
                })
                .await;
                drop(strong);
                match listed {
                    Ok((items, revision)) => {
                        seen = revision;
                        WatchEvent::Snapshot { items, revision }
                    }
                    Err(e) => {
                        tracing::warn!(prefix, error = %e, "watcher resync failed; closing it");
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn event_key(event: &WatchEvent) -> Option<&str> {
    match event {
        WatchEvent::Put(kv) => Some(&kv.key),
        WatchEvent::Delete { key, .. } => Some(key),
        WatchEvent::Snapshot { .. } => None,
    }
}
