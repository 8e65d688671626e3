//! The etcd store (`config_provider: etcd`): APISIX's etcd v3 layout, so an APISIX control
//! plane and this gateway can share one cluster.
//!
//! - Keys are `<prefix>/<dir>/<id>`, values the JSON documents APISIX stores. A value that is
//!   not JSON (APISIX's `init_dir` placeholders) is read as a JSON string.
//! - Revisions, leases and compare-and-swap are etcd's own (`create_revision`, `mod_revision`,
//!   a txn comparing `mod_revision`, or `create_revision == 0` for "only if absent").
//! - `next_id` writes `<prefix>/gen_id` and returns the revision of that write, like APISIX.
//! - Every request is bounded by `deployment.etcd.timeout`; a failure or a timeout is
//!   [`StoreError::Unavailable`] with the etcd error text, and marks the store unreachable
//!   until a request or the watch succeeds again.
//! - The client connects lazily (the first request), so a gateway can start while etcd is down.
//! - `https://` hosts go through [`tls`] (our rustls connector: `ssl_trusted_certificate`,
//!   `tls.verify: false`, client certificates); a request that fails for a TLS reason says why.
//!
//! Submodule: [`watch`] (range read + watch, resync after errors, compaction or reconnects;
//! `watch_timeout`, `startup_retry`, `resync_delay`).

mod tls;
mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp, TxnOpResponse,
};
use serde_json::Value;
use tokio::sync::{mpsc, OnceCell};

use super::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};
use crate::config::EtcdConfig;

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
    options: ConnectOptions,
    /// Set for `https://` hosts: the TLS connector the client's channel uses.
    tls: Option<tls::EtcdTlsConnector>,
    timeout: Duration,
    /// The watch/start-up/retry timings of `deployment.etcd`.
    timings: watch::Timings,
    client: OnceCell<Client>,
    healthy: AtomicBool,
}

/// A [`Store`] backed by an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.endpoints)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl EtcdStore {
    /// A store for `config` (`deployment.etcd`). Nothing is contacted yet; TLS files are read
    /// now, so a missing certificate is reported at start-up.
    pub fn new(config: &EtcdConfig) -> StoreResult<Self> {
        let timeout = config.timeout.max(Duration::from_millis(100));
        let mut options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_keep_alive(Duration::from_secs(5), timeout.max(Duration::from_secs(3)))
            .with_keep_alive_while_idle(true)
            .with_auto_token_refresh(true);
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.with_user(user.clone(), password.clone());
        }
        let tls = if config.hosts.iter().any(|h| h.starts_with("https://")) {
            Some(tls::EtcdTlsConnector::new(config)?)
        } else {
            None
        };
        Ok(EtcdStore {
            inner: Arc::new(Inner {
                endpoints: config.hosts.clone(),
                options,
                tls,
                timeout,
                timings: watch::Timings::from_config(config),
                client: OnceCell::new(),
                healthy: AtomicBool::new(false),
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
            self.request(|mut c| async move { c.txn(txn).await })
                .await?;
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

    /// The connected client (connecting on first use).
    async fn client(&self) -> StoreResult<Client> {
        let inner = &self.inner;
        let client = inner
            .client
            .get_or_try_init(|| async {
                let options = Some(inner.options.clone());
                let connect = async {
                    match &inner.tls {
                        Some(connector) => {
                            let channel = tls::channel(connector.clone(), inner.timeout)
                                .map_err(|err| etcd_client::Error::InvalidArgs(err.to_string()))?;
                            Client::from_channel(etcd_client::Channel::Tonic(channel), options)
                                .await
                        }
                        None => Client::connect(&inner.endpoints, options).await,
                    }
                };
                match tokio::time::timeout(inner.timeout, connect).await {
                    Ok(Ok(client)) => Ok(client),
                    Ok(Err(err)) => Err(self.explain(unavailable(&err))),
                    Err(_) => Err(self.explain(timed_out(inner.timeout))),
                }
            })
            .await;
        match client {
            Ok(client) => Ok(client.clone()),
            Err(err) => {
                self.set_healthy(false);
                Err(err)
            }
        }
    }

    /// Runs one request with the client, bounded by the timeout; records health.
    async fn request<T, F, Fut>(&self, call: F) -> StoreResult<T>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let client = self.client().await?;
        let result = match tokio::time::timeout(self.inner.timeout, call(client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.explain(unavailable(&err))),
            Err(_) => Err(self.explain(timed_out(self.inner.timeout))),
        };
        self.set_healthy(result.is_ok());
        result
    }

    /// Adds the last TLS connection failure (e.g. an unknown CA) to a request error.
    fn explain(&self, err: StoreError) -> StoreError {
        match (err, self.inner.tls.as_ref().and_then(|t| t.last_error())) {
            (StoreError::Unavailable(text), Some(cause)) if !text.contains(&cause) => {
                StoreError::Unavailable(format!("{text}: {cause}"))
            }
            (err, _) => err,
        }
    }

    fn set_healthy(&self, healthy: bool) {
        let was = self.inner.healthy.swap(healthy, Ordering::Relaxed);
        if was && !healthy {
            tracing::warn!(endpoints = ?self.inner.endpoints, "etcd became unreachable");
        } else if !was && healthy {
            tracing::info!(endpoints = ?self.inner.endpoints, "etcd reachable");
        }
    }
}

/// The etcd error text (the gRPC message when there is one).
fn unavailable(err: &etcd_client::Error) -> StoreError {
    let text = match err {
        etcd_client::Error::GRpcStatus(status) if !status.message().is_empty() => {
            status.message().to_owned()
        }
        other => other.to_string(),
    };
    StoreError::Unavailable(text)
}

fn timed_out(timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!("etcd request timed out after {timeout:?}"))
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

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let key = key.to_owned();
        let resp = self
            .request(|mut c| async move { c.get(key, None).await })
            .await?;
        Ok(resp.kvs().first().map(convert))
    }

    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let prefix = prefix.to_owned();
        let options = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Ascend);
        let resp = self
            .request(|mut c| async move { c.get(prefix, Some(options)).await })
            .await?;
        let items = resp.kvs().iter().map(convert).collect();
        Ok((items, header_revision(resp.header())))
    }

    async fn put(&self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let (k, bytes) = (key.to_owned(), encode(value));
        let options = PutOptions::new().with_prev_key().with_lease(lease);
        let resp = self
            .request(|mut c| async move { c.put(k, bytes, Some(options)).await })
            .await?;
        let previous = resp.prev_key().map(convert);
        Ok(outcome(
            key,
            value,
            lease,
            header_revision(resp.header()),
            previous,
        ))
    }

    async fn compare_and_put(
        &self,
        key: &str,
        expected_mod_revision: i64,
        value: &Value,
        lease: i64,
    ) -> StoreResult<PutOutcome> {
        let compare = if expected_mod_revision == 0 {
            Compare::create_revision(key, CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key, CompareOp::Equal, expected_mod_revision)
        };
        let options = PutOptions::new().with_prev_key().with_lease(lease);
        let txn =
            Txn::new()
                .when([compare])
                .and_then([TxnOp::put(key, encode(value), Some(options))]);
        let resp = self
            .request(|mut c| async move { c.txn(txn).await })
            .await?;
        if !resp.succeeded() {
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

    async fn delete(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let key = key.to_owned();
        let options = etcd_client::DeleteOptions::new().with_prev_key();
        let resp = self
            .request(|mut c| async move { c.delete(key, Some(options)).await })
            .await?;
        Ok(resp.prev_kvs().first().map(convert))
    }

    async fn next_id(&self, prefix: &str) -> StoreResult<i64> {
        let key = format!("{}/gen_id", prefix.trim_end_matches('/'));
        let resp = self
            .request(|mut c| async move { c.put(key, "1", None).await })
            .await?;
        Ok(header_revision(resp.header()))
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
