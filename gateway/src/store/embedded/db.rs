//! The redb file behind [`super::EmbeddedStore`]: tables, the single writer and its events.
//!
//! Tables:
//! - `kv`: key → JSON [`Record`] (value, create/mod revision, lease).
//! - `meta`: `revision` (the global revision) and `next_lease` (the next lease id).
//! - `leases`: lease id → deadline in Unix milliseconds (wall clock, so it survives restarts).
//! - `lease_keys`: lease id → the keys attached to it.
//!
//! Every write goes through [`Shared::write`]: one mutex, one redb write transaction committed
//! durably, then its events are broadcast while the mutex is still held, so watchers see events
//! in revision order.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{
    Database, Durability, MultimapTableDefinition, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::store::{KeyValue, PutOutcome, StoreError, StoreResult, WatchEvent};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const LEASES: TableDefinition<i64, i64> = TableDefinition::new("leases");
const LEASE_KEYS: MultimapTableDefinition<i64, &str> = MultimapTableDefinition::new("lease_keys");

const META_REVISION: &str = "revision";
const META_NEXT_LEASE: &str = "next_lease";

/// How many events a slow watcher may fall behind before it gets a fresh snapshot.
#[cfg(not(test))]
const EVENT_BUFFER: usize = 1024;
/// Small in tests, so that lagging is cheap to provoke.
#[cfg(test)]
const EVENT_BUFFER: usize = 32;

/// A stored key as serialized in the `kv` table.
#[derive(Serialize, Deserialize)]
struct Record {
    value: Value,
    create_revision: i64,
    mod_revision: i64,
    lease: i64,
}

impl Record {
    fn into_key_value(self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: self.lease,
        }
    }
}

/// Maps any redb failure to [`StoreError::Unavailable`], naming the store.
pub(super) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {}", e.into()))
}

fn decode(key: &str, bytes: &[u8]) -> StoreResult<KeyValue> {
    serde_json::from_slice::<Record>(bytes)
        .map(|r| r.into_key_value(key))
        .map_err(|e| {
            StoreError::Unavailable(format!("embedded store: key {key}: corrupt record: {e}"))
        })
}

/// The current wall-clock time in Unix milliseconds.
pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The revision an event happened at.
pub(super) fn event_revision(event: &WatchEvent) -> i64 {
    match event {
        WatchEvent::Snapshot { revision, .. } | WatchEvent::Delete { revision, .. } => *revision,
        WatchEvent::Put(kv) => kv.mod_revision,
    }
}

/// How long [`open_database`] waits for a previous handle of the same file in this process
/// (a background task finishing its last transaction after the store was dropped).
const REOPEN_WAIT: Duration = Duration::from_secs(5);

/// Opens the file, waiting briefly while a just-dropped handle in this process still holds
/// its lock.
///
/// New files use redb's v3 file format, and a file in the older v2 format is upgraded in place
/// ([`Database::upgrade`]) when it is opened: redb 3 reads only v3 files, so a later move to
/// redb 3 needs no migration step of its own. The upgrade is one write transaction; a file that
/// cannot be upgraded is opened as it is, with a warning.
pub(super) fn open_database(path: &std::path::Path) -> StoreResult<Database> {
    let mut db = open_locked(path)?;
    match db.upgrade() {
        Ok(true) => {
            tracing::info!(path = %path.display(), "embedded store upgraded to redb's v3 file format")
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(
            path = %path.display(), error = %e,
            "embedded store kept in its file format (upgrade to redb's v3 format failed)"
        ),
    }
    Ok(db)
}

/// [`open_database`] before the format check.
fn open_locked(path: &std::path::Path) -> StoreResult<Database> {
    let started = Instant::now();
    loop {
        match redb::Builder::new()
            .create_with_file_format_v3(true)
            .create(path)
        {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < REOPEN_WAIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "embedded store {}: {e}",
                    path.display()
                )))
            }
        }
    }
}

/// The database plus what every writer and watcher shares.
pub(super) struct Shared {
    db: Database,
    write_lock: Mutex<()>,
    revision: AtomicI64,
    events: broadcast::Sender<WatchEvent>,
}

/// One open write transaction with the revision it has reached and the events it produced.
pub(super) struct WriteCtx<'a> {
    txn: &'a WriteTransaction,
    revision: i64,
    events: Vec<WatchEvent>,
}

impl Shared {
    /// Opens (or creates) the database file and makes sure every table exists.
    pub(super) fn open(path: &std::path::Path) -> StoreResult<Shared> {
        let db = open_database(path)?;
        let txn = db.begin_write().map_err(db_err)?;
        let revision = {
            txn.open_table(KV).map_err(db_err)?;
            txn.open_table(LEASES).map_err(db_err)?;
            txn.open_multimap_table(LEASE_KEYS).map_err(db_err)?;
            let meta = txn.open_table(META).map_err(db_err)?;
            let rev = meta.get(META_REVISION).map_err(db_err)?.map(|g| g.value());
            rev.unwrap_or(0)
        };
        txn.commit().map_err(db_err)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Shared {
            db,
            write_lock: Mutex::new(()),
            revision: AtomicI64::new(revision),
            events,
        })
    }

    /// The last committed revision.
    pub(super) fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Subscribes to the events of every later write.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// Runs `f` in one durable write transaction; commits only if it succeeds, then
    /// publishes its events. Writes are serialized, so revisions and events stay in order.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _guard = self
            .write_lock
            .lock()
            .map_err(|_| StoreError::Unavailable("embedded store: writer poisoned".into()))?;
        let mut txn = self.db.begin_write().map_err(db_err)?;
        // Fsync before commit returns: an acknowledged write survives a crash or kill -9.
        txn.set_durability(Durability::Immediate);
        let mut ctx = WriteCtx {
            txn: &txn,
            revision: self.revision(),
            events: Vec::new(),
        };
        let out = f(&mut ctx)?;
        let (revision, events) = (ctx.revision, ctx.events);
        if revision != self.revision() {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(META_REVISION, revision).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        self.revision.store(revision, Ordering::Release);
        for event in events {
            // No receiver is fine: nobody watches.
            let _ = self.events.send(event);
        }
        Ok(out)
    }

    /// Reads one key.
    pub(super) fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let kv = txn.open_table(KV).map_err(db_err)?;
        let found = kv.get(key).map_err(db_err)?;
        found.map(|g| decode(key, g.value())).transpose()
    }

    /// Reads every key under `prefix`, sorted, with the revision of the same read.
    pub(super) fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        let revision = meta
            .get(META_REVISION)
            .map_err(db_err)?
            .map(|g| g.value())
            .unwrap_or(0);
        let kv = txn.open_table(KV).map_err(db_err)?;
        let mut items = Vec::new();
        for entry in kv.range::<&str>(prefix..).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            items.push(decode(key, v.value())?);
        }
        Ok((items, revision))
    }

    /// Creates a lease with the given deadline; does not bump the revision (as etcd).
    pub(super) fn grant_lease(&self, deadline_millis: i64) -> StoreResult<i64> {
        self.write(|ctx| {
            let mut meta = ctx.txn.open_table(META).map_err(db_err)?;
            let id = meta
                .get(META_NEXT_LEASE)
                .map_err(db_err)?
                .map(|g| g.value())
                .unwrap_or(1);
            meta.insert(META_NEXT_LEASE, id + 1).map_err(db_err)?;
            let mut leases = ctx.txn.open_table(LEASES).map_err(db_err)?;
            leases.insert(id, deadline_millis).map_err(db_err)?;
            Ok(id)
        })
    }

    /// The earliest lease deadline, if any lease exists.
    pub(super) fn next_deadline(&self) -> StoreResult<Option<i64>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let leases = txn.open_table(LEASES).map_err(db_err)?;
        let mut earliest: Option<i64> = None;
        for entry in leases.iter().map_err(db_err)? {
            let (_, deadline) = entry.map_err(db_err)?;
            let d = deadline.value();
            earliest = Some(earliest.map_or(d, |e| e.min(d)));
        }
        Ok(earliest)
    }

    /// Revokes every lease whose deadline is at or before `now_millis`, deleting its keys
    /// (one revision per deleted key). Returns how many leases expired.
    pub(super) fn expire_due(&self, now_millis: i64) -> StoreResult<usize> {
        let due = {
            let txn = self.db.begin_read().map_err(db_err)?;
            let leases = txn.open_table(LEASES).map_err(db_err)?;
            let mut due = Vec::new();
            for entry in leases.iter().map_err(db_err)? {
                let (id, deadline) = entry.map_err(db_err)?;
                if deadline.value() <= now_millis {
                    due.push(id.value());
                }
            }
            due
        };
        if due.is_empty() {
            return Ok(0);
        }
        self.write(|ctx| {
            for id in &due {
                ctx.revoke_lease(*id)?;
            }
            Ok(due.len())
        })
    }
}

impl WriteCtx<'_> {
    fn read(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let kv = self.txn.open_table(KV).map_err(db_err)?;
        let found = kv.get(key).map_err(db_err)?;
        found.map(|g| decode(key, g.value())).transpose()
    }

    /// Reads one key inside the transaction (for compare-and-put).
    pub(super) fn current(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        self.read(key)
    }

    /// Writes `key` at the next revision, attached to `lease` (0 for none).
    pub(super) fn put(&mut self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        if lease != 0 {
            let leases = self.txn.open_table(LEASES).map_err(db_err)?;
            if leases.get(lease).map_err(db_err)?.is_none() {
                return Err(StoreError::Unavailable(format!(
                    "embedded store: requested lease not found: {lease}"
                )));
            }
        }
        let previous = self.read(key)?;
        let revision = self.revision + 1;
        let record = Record {
            value: value.clone(),
            create_revision: previous.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            lease,
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| StoreError::Unavailable(format!("embedded store: key {key}: {e}")))?;
        {
            let mut lease_keys = self.txn.open_multimap_table(LEASE_KEYS).map_err(db_err)?;
            if let Some(old) = previous
                .as_ref()
                .filter(|p| p.lease != 0 && p.lease != lease)
            {
                lease_keys.remove(old.lease, key).map_err(db_err)?;
            }
            if lease != 0 {
                lease_keys.insert(lease, key).map_err(db_err)?;
            }
            let mut kv = self.txn.open_table(KV).map_err(db_err)?;
            kv.insert(key, bytes.as_slice()).map_err(db_err)?;
        }
        self.revision = revision;
        let current = record.into_key_value(key);
        self.events.push(WatchEvent::Put(current.clone()));
        Ok(PutOutcome { previous, current })
    }

    /// Deletes `key` at the next revision; a missing key changes nothing.
    pub(super) fn delete(&mut self, key: &str) -> StoreResult<Option<KeyValue>> {
        let Some(previous) = self.read(key)? else {
            return Ok(None);
        };
        {
            let mut kv = self.txn.open_table(KV).map_err(db_err)?;
            kv.remove(key).map_err(db_err)?;
            if previous.lease != 0 {
                let mut lease_keys = self.txn.open_multimap_table(LEASE_KEYS).map_err(db_err)?;
                lease_keys.remove(previous.lease, key).map_err(db_err)?;
            }
        }
        self.revision += 1;
        self.events.push(WatchEvent::Delete {
            key: key.to_string(),
            revision: self.revision,
        });
        Ok(Some(previous))
    }

    fn revoke_lease(&mut self, id: i64) -> StoreResult<()> {
        let keys: Vec<String> = {
            let lease_keys = self.txn.open_multimap_table(LEASE_KEYS).map_err(db_err)?;
            let mut keys = Vec::new();
            for k in lease_keys.get(id).map_err(db_err)? {
                keys.push(k.map_err(db_err)?.value().to_string());
            }
            keys
        };
        for key in keys {
            if self.read(&key)?.is_some_and(|kv| kv.lease == id) {
                self.delete(&key)?;
            }
        }
        let mut lease_keys = self.txn.open_multimap_table(LEASE_KEYS).map_err(db_err)?;
        lease_keys.remove_all(id).map_err(db_err)?;
        let mut leases = self.txn.open_table(LEASES).map_err(db_err)?;
        leases.remove(id).map_err(db_err)?;
        Ok(())
    }
}
