//! The background fetch: a tokio task that reads a [`Snapshot`] every refresh period (or at
//! once when poked) and publishes the latest result in a `watch` channel, so the UI loop
//! reads the last value without ever awaiting the network. A failure is published too,
//! and the task keeps retrying at the same period.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::source::{DataSource, Snapshot};

/// One published fetch result.
pub type FetchResult = Result<Arc<Snapshot>, String>;

/// Handle to a running fetch task.
#[derive(Debug)]
pub struct Fetcher {
    /// Latest result; `None` until the first fetch finished.
    pub latest: watch::Receiver<Option<FetchResult>>,
    poke: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Fetcher {
    /// Starts fetching from `source` every `period` on `runtime`.
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        source: Arc<dyn DataSource>,
        period: Duration,
    ) -> Self {
        let (tx, latest) = watch::channel(None);
        let poke = Arc::new(Notify::new());
        let task = runtime.spawn(fetch_loop(source, period, tx, Arc::clone(&poke)));
        Self { latest, poke, task }
    }

    /// Asks for a fetch now.
    pub fn refresh(&self) {
        self.poke.notify_one();
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fetch_loop(
    source: Arc<dyn DataSource>,
    period: Duration,
    tx: watch::Sender<Option<FetchResult>>,
    poke: Arc<Notify>,
) {
    loop {
        let result = source
            .snapshot()
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        if tx.send(Some(result)).is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = poke.notified() => {}
        }
    }
}
