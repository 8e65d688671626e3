//! Follows the store's watch and keeps the [`SharedSnapshot`] current: events update an item
//! map, bursts are coalesced (everything already queued is applied before one recompile, and a
//! burst is cut after [`MAX_BURST`] so a change never waits long), the compile runs off the
//! async threads, and the result is swapped in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::oneshot;

use model::CheckContext;

use super::{compile_with, CompileOptions, SharedSnapshot, Snapshot};
use crate::store::{KeyValue, Store, WatchEvent};

/// Longest time spent draining queued events before recompiling.
pub const MAX_BURST: Duration = Duration::from_millis(200);

/// The store's items under the prefix, as last seen through the watch.
#[derive(Debug)]
pub struct SnapshotWatcher {
    prefix: String,
    ctx: CheckContext,
    options: CompileOptions,
    items: BTreeMap<String, KeyValue>,
    revision: i64,
}

impl SnapshotWatcher {
    /// An empty watcher for `prefix` (e.g. `/apisix`).
    pub fn new(prefix: impl Into<String>, ctx: CheckContext) -> Self {
        SnapshotWatcher {
            prefix: prefix.into(),
            ctx,
            options: CompileOptions::default(),
            items: BTreeMap::new(),
            revision: 0,
        }
    }

    /// Uses `options` for every compile.
    pub fn with_options(mut self, options: CompileOptions) -> Self {
        self.options = options;
        self
    }

    /// Applies one watch event: a `Snapshot` replaces every item, `Put`/`Delete` change one.
    pub fn apply(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Snapshot { items, revision } => {
                self.items = items.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
                self.revision = revision;
            }
            WatchEvent::Put(kv) => {
                self.revision = self.revision.max(kv.mod_revision);
                self.items.insert(kv.key.clone(), kv);
            }
            WatchEvent::Delete { key, revision } => {
                self.revision = self.revision.max(revision);
                self.items.remove(&key);
            }
        }
    }

    /// The latest store revision seen.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The items currently known, sorted by key.
    pub fn items(&self) -> impl Iterator<Item = &KeyValue> + '_ {
        self.items.values()
    }

    /// Compiles the current items, carrying balancer state over from `previous`.
    pub fn build(&self, previous: Option<&Snapshot>) -> Snapshot {
        self.compile_job()(previous)
    }

    /// A copy of the current items with the compile to run on them, for a blocking thread.
    fn compile_job(&self) -> impl FnOnce(Option<&Snapshot>) -> Snapshot + Send + 'static {
        let items: Vec<KeyValue> = self.items.values().cloned().collect();
        let (prefix, ctx, revision) = (self.prefix.clone(), self.ctx.clone(), self.revision);
        let options = self.options.clone();
        move |previous| {
            let mut snap = compile_with(&items, &prefix, &ctx, &options, previous);
            snap.revision = revision;
            snap
        }
    }
}

/// Watches `<prefix>/` in `store` and swaps a freshly compiled snapshot into `target` after
/// each batch of changes; `ready` fires after the first snapshot is in place. Returns when the
/// store closes the watch; a failed watch call is retried with backoff.
pub async fn run_watcher(
    store: Arc<dyn Store>,
    prefix: String,
    ctx: CheckContext,
    target: SharedSnapshot,
    ready: Option<oneshot::Sender<()>>,
) {
    let watcher = SnapshotWatcher::new(prefix, ctx);
    run_watcher_with(store, watcher, target, ready).await;
}

/// [`run_watcher`] with a prepared [`SnapshotWatcher`] (e.g. one with
/// [`SnapshotWatcher::with_options`]); it starts from the watcher's prefix.
pub async fn run_watcher_with(
    store: Arc<dyn Store>,
    mut watcher: SnapshotWatcher,
    target: SharedSnapshot,
    mut ready: Option<oneshot::Sender<()>>,
) {
    let watch_prefix = format!("{}/", watcher.prefix.trim_end_matches('/'));
    let mut backoff = Duration::from_millis(100);
    let mut rx = loop {
        match store.watch(&watch_prefix).await {
            Ok(rx) => break rx,
            Err(err) => {
                tracing::warn!(prefix = %watch_prefix, error = %err, "store watch failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    while let Some(event) = rx.recv().await {
        watcher.apply(event);
        let burst = Instant::now();
        while burst.elapsed() < MAX_BURST {
            match rx.try_recv() {
                Ok(event) => watcher.apply(event),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let previous = target.load_full();
        let job = watcher.compile_job();
        let revision = watcher.revision();
        let built = tokio::task::spawn_blocking(move || job(Some(&previous))).await;
        match built {
            Ok(snap) => {
                tracing::debug!(
                    revision,
                    routes = snap.routes.len(),
                    "configuration snapshot swapped in"
                );
                target.store(Arc::new(snap));
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
            Err(err) => {
                tracing::error!(revision, error = %err, "snapshot compile failed; keeping the previous one")
            }
        }
    }
    tracing::info!(prefix = %watch_prefix, "store watch closed; snapshot watcher stops");
}
