//! The lease reaper: a background task that deletes the keys of expired leases.
//!
//! It sleeps until the earliest persisted deadline (or until a new lease is granted), then
//! revokes every due lease through the single writer, so watchers get `Delete` events. It
//! holds only a weak reference to the store between runs, so dropping the store closes the
//! database; the store also aborts the task on drop.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::db::{now_millis, Shared};

/// How long to wait before retrying after the database failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// Starts the reaper on the current tokio runtime.
pub(super) fn spawn_reaper(
    handle: &tokio::runtime::Handle,
    shared: Weak<Shared>,
    wakeup: Arc<Notify>,
) -> JoinHandle<()> {
    handle.spawn(async move {
        loop {
            let Some(pause) = reap_once(&shared).await else {
                return;
            };
            match pause {
                Some(pause) => {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = wakeup.notified() => {}
                    }
                }
                None => wakeup.notified().await,
            }
        }
    })
}

/// Expires what is due; returns how long to wait for the next deadline (`Some(None)`: no
/// lease left), or `None` when the store is gone.
async fn reap_once(shared: &Weak<Shared>) -> Option<Option<Duration>> {
    let strong = shared.upgrade()?;
    let result = tokio::task::spawn_blocking(move || {
        strong.expire_due(now_millis())?;
        strong.next_deadline()
    })
    .await;
    match result {
        Ok(Ok(next)) => Some(next.map(|deadline| {
            let wait = u64::try_from(deadline - now_millis()).unwrap_or(0);
            Duration::from_millis(wait)
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "lease reaper: expiring leases failed; retrying");
            Some(Some(RETRY_AFTER_ERROR))
        }
        Err(e) => {
            tracing::warn!(error = %e, "lease reaper: task failed; retrying");
            Some(Some(RETRY_AFTER_ERROR))
        }
    }
}
