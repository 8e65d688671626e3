//! The embedded store: a crash-safe redb file, `<data_dir>/config.redb`, with etcd v3
//! semantics.
//!
//! - One global revision, bumped by every write (put, delete, `gen_id`, each key deleted by
//!   an expired lease). Each key keeps `create_revision`, `mod_revision` and `lease`.
//! - Every acknowledged write was committed durably (fsynced) before the call returned.
//! - Writes run on the blocking pool but go through one writer ([`db::Shared::write`]), so
//!   revisions and watch events come out in order.
//! - Leases persist their deadline as wall-clock time; a background task deletes the keys of
//!   expired leases (also those that expired while the gateway was down, at open).
//! - [`Store::watch`] sends a snapshot, then every change after it (see [`watch`]).
//!
//! Submodules: [`db`] (tables and the writer), [`lease`] (the reaper), [`watch`] (watchers).

mod db;
mod lease;
mod watch;

#[cfg(test)]
mod durability_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use self::db::{now_millis, Shared};
use super::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};

/// The file name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "config.redb";

/// The default store: a redb file with etcd-like revisions, leases and watches.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    path: PathBuf,
    lease_wakeup: Arc<Notify>,
    reaper: JoinHandle<()>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("revision", &self.revision())
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (creating it and `data_dir` if needed) `<data_dir>/config.redb`, deletes the keys
    /// of leases that expired while closed, and starts the lease reaper. Must be called inside
    /// a tokio runtime.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Unavailable("embedded store: open needs a tokio runtime".into())
        })?;
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "embedded store: creating data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let shared = Arc::new(Shared::open(&path)?);
        let expired = shared.expire_due(now_millis())?;
        if expired > 0 {
            tracing::info!(path = %path.display(), expired, "expired leases that ran out while closed");
        }
        let lease_wakeup = Arc::new(Notify::new());
        let reaper = lease::spawn_reaper(&handle, Arc::downgrade(&shared), lease_wakeup.clone());
        tracing::debug!(path = %path.display(), revision = shared.revision(), "embedded store open");
        Ok(EmbeddedStore {
            shared,
            path,
            lease_wakeup,
            reaper,
        })
    }

    /// The current (last committed) revision.
    pub fn revision(&self) -> i64 {
        self.shared.revision()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}

/// Runs `f` on the blocking pool with the shared database.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || f(&shared))
        .await
        .map_err(|e| StoreError::Unavailable(format!("embedded store: task failed: {e}")))?
}

/// The key APISIX writes to generate ids: `<prefix>/gen_id`.
fn gen_id_key(prefix: &str) -> String {
    format!("{}/gen_id", prefix.trim_end_matches('/'))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let key = key.to_string();
        blocking(&self.shared, move |s| s.get(&key)).await
    }

    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let prefix = prefix.to_string();
        blocking(&self.shared, move |s| s.list(&prefix)).await
    }

    async fn put(&self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let (key, value) = (key.to_string(), value.clone());
        blocking(&self.shared, move |s| {
            s.write(|tx| tx.put(&key, &value, lease))
        })
        .await
    }

    async fn cas(&self, key: &str, rev: i64, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let (key, value) = (key.to_string(), value.clone());
        blocking(&self.shared, move |s| {
            s.write(|tx| {
                let found = tx.current(&key)?.map_or(0, |kv| kv.mod_revision);
                if found != rev {
                    return Err(StoreError::Conflict);
                }
                tx.put(&key, &value, lease)
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let key = key.to_string();
        blocking(&self.shared, move |s| s.write(|tx| tx.delete(&key))).await
    }

    async fn next_id(&self, prefix: &str) -> StoreResult<i64> {
        let key = gen_id_key(prefix);
        let outcome = blocking(&self.shared, move |s| {
            s.write(|tx| tx.put(&key, &Value::from(1), 0))
        })
        .await?;
        Ok(outcome.current.mod_revision)
    }

    async fn grant_lease(&self, ttl: Duration) -> StoreResult<i64> {
        let ttl_millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let deadline = now_millis().saturating_add(ttl_millis);
        let id = blocking(&self.shared, move |s| s.grant_lease(deadline)).await?;
        self.lease_wakeup.notify_one();
        Ok(id)
    }

    async fn watch(&self, prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>> {
        watch::start(&self.shared, prefix).await
    }

    async fn reachable(&self) -> bool {
        true
    }
}
