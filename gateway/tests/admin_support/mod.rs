//! Test support for the Admin API tests: an in-memory [`Store`] with etcd-like revisions (and
//! switches to make it fail), a [`Config`] builder, and a running server with an HTTP client.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apisix_gateway::admin::{serve, AdminContext};
use apisix_gateway::config::{AdminKey, Config, ConfigProvider, ProxyMode};
use apisix_gateway::store::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub const ADMIN_KEY: &str = "edd1c9f034335f136f87ad84b625c8f1";
pub const VIEWER_KEY: &str = "4054f7cf07e344346cd3f287985e76a2";

/// Every network wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    revision: i64,
    kvs: BTreeMap<String, KeyValue>,
    next_lease: i64,
}

/// An in-memory store: one global revision, create/mod revisions per key.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<State>,
    /// Every call fails with `Unavailable`.
    pub unavailable: AtomicBool,
    /// The next compare-and-put fails with `Conflict` (someone else wrote first).
    pub conflict_next_cas: AtomicBool,
}

impl MemStore {
    fn state(&self) -> StoreResult<std::sync::MutexGuard<'_, State>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "connection refused: store is down".to_owned(),
            ));
        }
        Ok(self.state.lock().expect("store lock is never poisoned"))
    }

    /// The current global revision.
    pub fn revision(&self) -> i64 {
        self.state.lock().expect("store lock").revision
    }

    /// A copy of everything stored.
    pub fn dump(&self) -> BTreeMap<String, KeyValue> {
        self.state.lock().expect("store lock").kvs.clone()
    }

    /// Writes a value directly (as another tool would), bypassing the Admin API.
    pub fn seed(&self, key: &str, value: Value) {
        let mut state = self.state.lock().expect("store lock");
        Self::write(&mut state, key, value.clone(), 0);
    }

    fn write(state: &mut State, key: &str, value: Value, lease: i64) -> PutOutcome {
        state.revision += 1;
        let revision = state.revision;
        let previous = state.kvs.get(key).cloned();
        let current = KeyValue {
            key: key.to_owned(),
            value,
            create_revision: previous.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            lease,
        };
        state.kvs.insert(key.to_owned(), current.clone());
        PutOutcome { previous, current }
    }
}

#[async_trait]
impl Store for MemStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        Ok(self.state()?.kvs.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let state = self.state()?;
        let items = state
            .kvs
            .values()
            .filter(|kv| kv.key.starts_with(prefix))
            .cloned()
            .collect();
        Ok((items, state.revision))
    }

    async fn put(&self, key: &str, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let mut state = self.state()?;
        Ok(Self::write(&mut state, key, value.clone(), lease))
    }

    async fn cas(&self, key: &str, rev: i64, value: &Value, lease: i64) -> StoreResult<PutOutcome> {
        let mut state = self.state()?;
        if self.conflict_next_cas.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Conflict);
        }
        let actual = state.kvs.get(key).map_or(0, |kv| kv.mod_revision);
        if actual != rev {
            return Err(StoreError::Conflict);
        }
        Ok(Self::write(&mut state, key, value.clone(), lease))
    }

    async fn delete(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        let mut state = self.state()?;
        let removed = state.kvs.remove(key);
        if removed.is_some() {
            state.revision += 1;
        }
        Ok(removed)
    }

    async fn next_id(&self, prefix: &str) -> StoreResult<i64> {
        let mut state = self.state()?;
        let outcome = Self::write(&mut state, &format!("{prefix}/gen_id"), Value::from(0), 0);
        Ok(outcome.current.mod_revision)
    }

    async fn grant_lease(&self, _ttl: Duration) -> StoreResult<i64> {
        let mut state = self.state()?;
        state.next_lease += 1;
        Ok(state.next_lease)
    }

    async fn watch(&self, _prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>> {
        Err(StoreError::Unavailable(
            "watch is not used by the admin tests".to_owned(),
        ))
    }

    async fn reachable(&self) -> bool {
        !self.unavailable.load(Ordering::SeqCst)
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("valid socket address")
}

/// A config as `conf/config.yaml` defaults would give, with `http&stream`, an admin and a
/// viewer key, and `allow_admin: [127.0.0.0/24]`.
pub fn test_config(prefix: PathBuf) -> Config {
    let mut config = Config::defaults(&prefix);
    config.proxy_mode = ProxyMode::HttpAndStream;
    config.stream.tcp = Vec::new();
    config.stream.udp = Vec::new();
    config.admin.key_required = true;
    config.admin.keys = vec![
        AdminKey::for_role("admin", ADMIN_KEY),
        AdminKey::for_role("viewer", VIEWER_KEY),
    ];
    config.admin.allow_admin = Some(vec!["127.0.0.0/24".parse().expect("valid cidr")]);
    config.deployment.config_provider = ConfigProvider::Embedded;
    config.stream.plugins = [
        "ip-restriction",
        "limit-conn",
        "mqtt-proxy",
        "syslog",
        "traffic-split",
    ]
    .map(String::from)
    .to_vec();
    config.stream.xrpc_protocols = vec!["redis".into(), "pingpong".into()];
    config.ssl.keyring = Vec::new();
    config.graceful_shutdown_timeout = Duration::from_secs(30);
    config
}

/// A running Admin API server over a [`MemStore`].
pub struct Server {
    pub base: String,
    pub store: Arc<MemStore>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// One answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON (panics with the text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("body is not json ({err}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An Admin API serving on a free 127.0.0.1 port.
pub struct RunningAdmin {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client with the test timeout.
    pub client: reqwest::Client,
    /// Send (or drop) to shut the server down.
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts the Admin API for `config` over `store` on a free port.
pub async fn serve_admin(config: Config, store: Arc<dyn Store>) -> RunningAdmin {
    let ctx = Arc::new(AdminContext::new(Arc::new(config), store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, ctx, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("http client");
    RunningAdmin {
        base,
        client,
        stop,
        task,
    }
}

impl Server {
    /// Starts a server with the default test config changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
        let mut config = test_config(std::env::temp_dir().join("apisix-admin-tests"));
        adjust(&mut config);
        let store = Arc::new(MemStore::default());
        let running = serve_admin(config, store.clone()).await;
        Server {
            base: running.base,
            store,
            client: running.client,
            stop: Some(running.stop),
            task: Some(running.task),
        }
    }

    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// Sends `method path` with the admin key and an optional JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, Some(ADMIN_KEY), body).await
    }

    /// Sends a request with an optional `X-API-KEY` and a raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("X-API-KEY", key);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        self.send(request).await
    }

    /// Sends a prepared request and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        Answer {
            status,
            headers,
            text,
        }
    }

    /// A request builder for `path` (for custom headers).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("server task present");
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("serve returned in time")
            .expect("serve task did not panic")
    }
}
