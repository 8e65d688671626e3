//! The etcd store (`config_provider: etcd`): APISIX's etcd v3 layout, so an APISIX control
//! plane and this gateway can share one cluster.
//!
//! - Keys are `<prefix>/<dir>/<id>`, values the JSON documents APISIX stores. A value that is
//!   not JSON (APISIX's `init_dir` placeholders) is read as a JSON string.
//! - Revisions, leases and compare-and-swap are etcd's own (`create_revision`, `mod_revision`,
//!   a txn comparing `mod_revision`, or `create_revision == 0` for "only if absent").
//! - `next_id` writes `<prefix>/gen_id` and returns the revision of that write, like APISIX.
//! - Several members in `deployment.etcd.host` are used as one cluster ([`members`]): a request
//!   that fails on one member for a transport or cluster reason moves to another, within
//!   `deployment.etcd.timeout`; a failed member is tried last for `health_check_timeout`.
//!   When no member answers in time the request is [`StoreError::Unavailable`] with the last
//!   etcd error text, and the store counts as unreachable until a member answers again.
//! - Retried writes keep their meaning: a retried put or compare-and-swap that finds its own
//!   first attempt applied reports that attempt (POST never creates two objects: its id is
//!   drawn once; PATCH never overwrites another writer); a delete compares the revision it
//!   read, so its retry tells its own first attempt (deleted: 200) from a key that was already
//!   gone (404 `Key not found`, as APISIX answers).
//! - Clients connect lazily (the first request), so a gateway can start while etcd is down.
//! - `https://` hosts go through [`tls`] (our rustls connector: `ssl_trusted_certificate`,
//!   `tls.verify: false`, client certificates); a request that fails for a TLS reason says why.
//!
//! Submodules: [`members`] (member health and failover), [`watch`] (range read + watch that
//! resumes on another member from the last revision; `watch_timeout`, `startup_retry`,
//! `resync_delay`), [`tls`].

mod members;
mod tls;
mod watch;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp, TxnOpResponse,
};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};
use crate::config::EtcdConfig;
use members::{Members, Served};

/// The directories APISIX's `init_etcd` creates, each as a `<prefix>/<dir>/` key holding
/// `init_dir` (REFERENCE.md §2.2).
pub const INIT_DIRS: &[&str] = &[
    "upstreams",
    "plugins",
    "ssls",
    "stream_routes",
    "plugin_metadata",
    "routes",
    "services",
    "consumers",
    "global_rules",
    "protos",
    "plugin_configs",
    "consumer_groups",
    "secrets",
];

/// The placeholder value of an init_dir key.
pub const INIT_DIR_VALUE: &str = "init_dir";

/// Connection settings shared by the store and its watch tasks.
struct Inner {
    endpoints: Vec<String>,
    members: Members,
    timeout: Duration,
    /// The watch/start-up/retry timings of `deployment.etcd`.
    timings: watch::Timings,
    /// Whether the last request (or the watch) found a member that answers.
    healthy: AtomicBool,
    /// The highest etcd revision seen in any answer: the floor that tells a retried write's
    /// own first attempt from an older write.
    seen_revision: AtomicI64,
}

/// A [`Store`] backed by an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("members", &self.inner.members)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl EtcdStore {
    /// A store for `config` (`deployment.etcd`). Nothing is contacted yet; TLS files are read
    /// now, so a missing certificate is reported at start-up.
    pub fn new(config: &EtcdConfig) -> StoreResult<Self> {
        let timeout = config.timeout.max(Duration::from_millis(100));
        let mut options = ConnectOptions::new().with_auto_token_refresh(true);
        if let Some(auth) = &config.auth {
            options = options.with_user(auth.user.clone(), auth.password.0.clone());
        }
        let tls = if config.hosts.iter().any(|h| h.starts_with("https://")) {
            Some(tls::EtcdTlsConnector::new(config)?)
        } else {
            None
        };
        let members = Members::new(
            &config.hosts,
            options,
            tls.as_ref(),
            config.health_check_timeout,
        );
        Ok(EtcdStore {
            inner: Arc::new(Inner {
                endpoints: config.hosts.clone(),
                members,
                timeout,
                timings: watch::Timings::from_config(config),
                healthy: AtomicBool::new(false),
                seen_revision: AtomicI64::new(0),
            }),
        })
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Writes APISIX's `<prefix>/<dir>/` = `init_dir` placeholders that are missing (one txn
    /// per key, "create only if absent"), as `apisix init` does.
    pub async fn ensure_init_dirs(&self, prefix: &str) -> StoreResult<()> {
        let base = prefix.trim_end_matches('/');
        for dir in INIT_DIRS {
            let key = format!("{base}/{dir}/");
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key, INIT_DIR_VALUE, None)]);
            self.txn(txn).await?;
        }
        Ok(())
    }

    /// Keeps calling [`EtcdStore::ensure_init_dirs`] (with backoff) until it succeeds.
    pub fn spawn_init_dirs(&self, prefix: &str) -> tokio::task::JoinHandle<()> {
        let (store, prefix) = (self.clone(), prefix.to_owned());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match store.ensure_init_dirs(&prefix).await {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::debug!(error = %err, "etcd init_dir placeholders not written yet; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
    }

    /// Runs one request on the first member that answers, within the timeout; records
    /// whether the store is reachable.
    async fn request<T, F, Fut>(&self, call: F) -> StoreResult<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        self.served(call).await.map(|served| served.value)
    }

    /// [`EtcdStore::request`], telling which member answered and whether it was a retry.
    async fn served<T, F, Fut>(&self, call: F) -> StoreResult<Served<T>>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match self.inner.members.request(self.inner.timeout, call).await {
            Ok(served) => {
                self.set_healthy(true);
                Ok(served)
            }
            Err(failure) => {
                self.set_healthy(!failure.unreachable);
                Err(failure.error)
            }
        }
    }

    /// Runs `txn` on the first member that answers (see [`EtcdStore::served`]) and notes the
    /// revision of its answer.
    async fn txn(&self, txn: Txn) -> StoreResult<Served<etcd_client::TxnResponse>> {
        let served = self
            .served(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        self.saw_revision(header_revision(served.value.header()));
        Ok(served)
    }

    /// Notes a revision seen in an answer.
    fn saw_revision(&self, revision: i64) {
        self.inner
            .seen_revision
            .fetch_max(revision, Ordering::Relaxed);
    }

    fn set_healthy(&self, healthy: bool) {
        let was = self.inner.healthy.swap(healthy, Ordering::Relaxed);
        if was && !healthy {
            tracing::warn!(endpoints = ?self.inner.endpoints, "etcd became unreachable: no member answers");
        } else if !was && healthy {
            tracing::info!(endpoints = ?self.inner.endpoints, "etcd reachable");
        }
    }
}

/// Converts an etcd key-value; a value that is not JSON becomes a JSON string.
fn convert(kv: &etcd_client::KeyValue) -> KeyValue {
    let value = serde_json::from_slice(kv.value())
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(kv.value()).into_owned()));
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value,
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
    }
}

fn encode(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a serde_json::Value always serializes")
}

/// The outcome of a put answered at `revision`, given the previous key.
fn outcome(
    key: &str,
    value: &Value,
    lease: i64,
    revision: i64,
    previous: Option<KeyValue>,
) -> PutOutcome {
    let create_revision = previous.as_ref().map_or(revision, |p| p.create_revision);
    PutOutcome {
        previous,
        current: KeyValue {
            key: key.to_owned(),
            value: value.clone(),
            create_revision,
            mod_revision: revision,
            lease,
        },
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision())
}

/// Whether `previous`, the key as a retried write found it, is this write's own first
/// attempt: the same value, written after every revision seen before the write began.
fn own_earlier_write(previous: &KeyValue, value: &Value, floor: i64) -> bool {
    previous.mod_revision > floor && previous.value == *value
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let resp = self
            .request(|mut c| async move { c.get(key, None).await })
            .await?;
        self.saw_revision(header_revision(resp.header()));
        Ok(resp.kvs().first().map(convert))
    }

    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let options = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Ascend);
        let resp = self
            .request(|mut c| {
                let options = options.clone();
                async move { c.get(prefix, Some(options)).await }
            })
            .await?;
        let revision = header_revision(resp.header());
        self.saw_revision(revision);
        let items = resp.kvs().iter().map(convert).collect();
        Ok((items, revision))
    }

    /// A retried put that finds its own first attempt reports the key as that attempt found
    /// it: "created" when the first attempt created it.
    async fn put(&self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let floor = self.inner.seen_revision.load(Ordering::Relaxed);
        let bytes = encode(value);
        let options = PutOptions::new().with_prev_key().with_lease(lease);
        let served = self
            .served(|mut c| {
                let (bytes, options) = (bytes.clone(), options.clone());
                async move { c.put(key, bytes, Some(options)).await }
            })
            .await?;
        let revision = header_revision(served.value.header());
        self.saw_revision(revision);
        let mut previous = served.value.prev_key().map(convert);
        if let Some(prev) = previous.as_ref() {
            if served.retried
                && own_earlier_write(prev, value, floor)
                && prev.create_revision == prev.mod_revision
            {
                previous = None;
            }
        }
        let mut outcome = outcome(key, value, lease, revision, previous);
        if let Some(prev) = served.value.prev_key().map(convert) {
            outcome.current.create_revision = prev.create_revision;
        }
        Ok(outcome)
    }

    /// A retried compare-and-swap that loses to its own first attempt (the key now holds this
    /// value, written after the expected revision) succeeds; any other loser is a conflict.
    async fn cas(&self, key: &str, rev: i64, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let floor = self.inner.seen_revision.load(Ordering::Relaxed);
        let compare = if rev == 0 {
            Compare::create_revision(key, CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key, CompareOp::Equal, rev)
        };
        let options = PutOptions::new().with_prev_key().with_lease(lease);
        let txn =
            Txn::new()
                .when([compare])
                .and_then([TxnOp::put(key, encode(value), Some(options))]);
        let served = self.txn(txn).await?;
        let resp = served.value;
        if !resp.succeeded() {
            if served.retried {
                if let Some(current) = self.get(key).await? {
                    if own_earlier_write(&current, value, floor.max(rev)) {
                        return Ok(PutOutcome {
                            previous: None,
                            current,
                        });
                    }
                }
            }
            return Err(StoreError::Conflict);
        }
        let previous = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Put(put) => put.prev_key().map(convert),
            _ => None,
        });
        Ok(outcome(
            key,
            value,
            lease,
            header_revision(resp.header()),
            previous,
        ))
    }

    /// Deletes the revision read just before, in a transaction: so a retry can tell its own
    /// first attempt (the key is gone and this request may have applied) from a key that was
    /// already gone (`None`, the Admin API's 404 `Key not found`, as APISIX answers). A key
    /// rewritten in between is deleted in its newer revision.
    async fn delete(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        loop {
            let Some(current) = self.get(key).await? else {
                return Ok(None);
            };
            let options = etcd_client::DeleteOptions::new().with_prev_key();
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key,
                    CompareOp::Equal,
                    current.mod_revision,
                )])
                .and_then([TxnOp::delete(key, Some(options))])
                .or_else([TxnOp::get(key, None)]);
            let served = self.txn(txn).await?;
            let resp = served.value;
            let ops = resp.op_responses();
            if resp.succeeded() {
                let previous = ops.into_iter().find_map(|op| match op {
                    TxnOpResponse::Delete(deleted) => deleted.prev_kvs().first().map(convert),
                    _ => None,
                });
                return Ok(previous.or(Some(current)));
            }
            let still_there = ops.into_iter().any(|op| match op {
                TxnOpResponse::Get(got) => !got.kvs().is_empty(),
                _ => false,
            });
            if !still_there {
                // Gone: by this request's own earlier attempt, or by another writer.
                return Ok(served.retried.then_some(current));
            }
        }
    }

    async fn next_id(&self, prefix: &str) -> StoreResult<i64> {
        let key = format!("{}/gen_id", prefix.trim_end_matches('/'));
        let resp = self
            .request(|mut c| {
                let key = key.clone();
                async move { c.put(key, "1", None).await }
            })
            .await?;
        let revision = header_revision(resp.header());
        self.saw_revision(revision);
        Ok(revision)
    }

    async fn grant_lease(&self, ttl: Duration) -> StoreResult<i64> {
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let secs = if ttl.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        }
        .max(1);
        let resp = self
            .request(|mut c| async move { c.lease_grant(secs, None).await })
            .await?;
        Ok(resp.id())
    }

    async fn watch(&self, prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>> {
        Ok(watch::start(self.clone(), prefix.to_owned()))
    }

    async fn reachable(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }
}
