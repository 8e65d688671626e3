//! The configuration store: one trait, several backends.
//!
//! - [`embedded`]: the default, a crash-safe redb file in `<prefix>/data` with etcd-like
//!   revisions, leases and a watch.
//! - [`etcd`]: an etcd v3 cluster in APISIX's layout (shared with APISIX control planes).
//! - [`yaml`]: read-only, from the standalone file `<prefix>/conf/apisix.yaml`.
//!
//! Keys are full paths as in APISIX's etcd layout: `<prefix>/<dir>/<id>`, e.g.
//! `/apisix/stream_routes/1`; values are JSON documents. Every write bumps one global revision;
//! each key remembers the revision that created it and the one that last modified it
//! (`createdIndex` / `modifiedIndex` in the Admin API).

pub mod embedded;
pub mod etcd;
pub mod yaml;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

/// A stored key with its value and revisions.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
    /// Revision of the write that created the key.
    pub create_revision: i64,
    /// Revision of the last write to the key.
    pub mod_revision: i64,
    /// The lease the key is attached to (written with `?ttl=`), 0 for none.
    pub lease: i64,
}

/// The outcome of a put.
#[derive(Debug, Clone, PartialEq)]
pub struct PutOutcome {
    /// The key as it was before, if it existed.
    pub previous: Option<KeyValue>,
    /// The key as it is now.
    pub current: KeyValue,
}

/// A change seen by a watcher.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The full contents under the watched prefix at `revision`. Always the first event; sent
    /// again after the watcher lost track (lag, compaction, reconnect): replace everything.
    Snapshot { items: Vec<KeyValue>, revision: i64 },
    /// A key was created or modified.
    Put(KeyValue),
    /// A key was deleted (or its lease expired) at `revision`.
    Delete { key: String, revision: i64 },
}

/// Failures of the store itself (not of validation).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or answered with an error: Admin API → 503.
    #[error("{0}")]
    Unavailable(String),
    /// A compare-and-swap lost: Admin API → 503 `value changed before overwritten`.
    #[error("value changed before overwritten")]
    Conflict,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One configuration store (embedded file, etcd, ...).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>>;

    /// Reads every key under `prefix` (a plain string prefix), sorted by key, with the store's
    /// current revision.
    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)>;

    /// Writes `key` unconditionally, attached to `lease` (0 for none).
    async fn put(&self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome>;

    /// Compare-and-swap put: writes `key` only if its `mod_revision` is still `rev`
    /// (0 = only if absent). `Err(Conflict)` otherwise.
    async fn cas(&self, key: &str, rev: i64, value: &Value, lease: i64) -> StoreResult<PutOutcome>;

    /// Deletes `key`; returns what was there.
    async fn delete(&self, key: &str) -> StoreResult<Option<KeyValue>>;

    /// A new unique, increasing number for POST ids (APISIX: the revision of a write to
    /// `<prefix>/gen_id`).
    async fn next_id(&self, prefix: &str) -> StoreResult<i64>;

    /// Creates a lease that expires after `ttl`; keys attached to it are deleted then.
    async fn grant_lease(&self, ttl: Duration) -> StoreResult<i64>;

    /// Watches `prefix`: first a [`WatchEvent::Snapshot`], then every change in order.
    /// The channel closes when the store shuts down.
    async fn watch(&self, prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>>;

    /// Whether the store is reachable now (for `/v1/status` and `apisix_etcd_reachable`).
    async fn reachable(&self) -> bool;

    /// The API-driven standalone store, when this is one (the Admin API's
    /// `PUT /apisix/admin/configs` replaces its contents).
    fn as_api_driven(&self) -> Option<&yaml::YamlStore> {
        None
    }
}
