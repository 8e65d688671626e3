//! Shared fixtures for the observability tests: an embedded store seeded with routes, the
//! snapshot watcher, the proxy listeners, and the Control API, export server and access log
//! as the server starts them, all on 127.0.0.1 port 0. The echo backend, client steps and
//! bounded waits come from `testkit`.

// Each test binary uses a part of this module, its re-exports from `testkit` included.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apisix_gateway::config::{AdminKey, Config, ProxyMode, TcpListen};
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::server::observability::{self, ObserveServices};
use apisix_gateway::snapshot::{self, SharedSnapshot};
use apisix_gateway::store::embedded::EmbeddedStore;
use apisix_gateway::store::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ADMIN_KEY: &str = "admin-key-for-tests";
pub const VIEWER_KEY: &str = "viewer-key-for-tests";

pub use testkit::client::round_trip;
pub use testkit::wait::{within, STEP_TIMEOUT as WAIT};

/// Re-evaluates `check` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    testkit::wait::eventually(what, WAIT, check).await
}

/// A config with the Control API, the export server and the access log on, everything on
/// 127.0.0.1 port 0 and under `dir`.
pub fn config(dir: &std::path::Path) -> Config {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut config = Config::defaults(dir);
    config.proxy_mode = ProxyMode::Stream;
    config.stream.tcp = vec![TcpListen {
        addr: any,
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }];
    config.stream.udp = vec![any];
    config.admin.enabled = false;
    config.control.listen = any;
    config.admin.listen = any;
    config.admin.keys = vec![
        AdminKey::for_role("admin", ADMIN_KEY),
        AdminKey::for_role("viewer", VIEWER_KEY),
    ];
    config.admin.allow_admin = None;
    config.prometheus.export_addr = any;
    config.stream.plugins = vec!["ip-restriction".into(), "prometheus".into()];
    config.stream.log.enable_access_log = true;
    config.stream.log.access_log = dir.join("logs/access_stream.log");
    config.stream.log.access_log_format =
        "$remote_addr $protocol $status $bytes_sent $bytes_received $upstream_addr $route_id"
            .into();
    config.graceful_shutdown_timeout = Duration::from_secs(5);
    config
}

/// A running data plane with its observability side.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub snapshot: SharedSnapshot,
    pub proxy: Arc<ProxyContext>,
    pub listeners: ListenerSet,
    pub services: ObserveServices,
    /// The TCP listener.
    pub tcp: SocketAddr,
    /// The UDP listener.
    pub udp: SocketAddr,
    pub control: SocketAddr,
    pub metrics: SocketAddr,
    pub http: reqwest::Client,
}

impl Harness {
    /// Starts with `routes` (`(id, body)`) in the store; `tweak` adjusts the config first.
    pub async fn start(routes: Vec<(&str, Value)>, tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(dir.path());
        tweak(&mut config);
        let store: Arc<dyn Store> = Arc::new(
            EmbeddedStore::open(&config.deployment.data_dir).expect("open embedded store"),
        );
        for (id, body) in routes {
            store
                .put(&format!("/apisix/stream_routes/{id}"), &body, 0)
                .await
                .expect("seed route");
        }
        let snapshot = snapshot::shared_empty();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        // Node names resolve with the config's DNS settings (`tweak` may point
        // `dns_resolver` at a test server); everything else compiles with the defaults.
        let watcher = snapshot::SnapshotWatcher::new(
            "/apisix",
            model::CheckContext::new(config.stream.plugins.clone(), vec![]),
        )
        .with_options(snapshot::CompileOptions {
            dns: snapshot::CompileOptions::from_config(&config).dns,
            ..snapshot::CompileOptions::default()
        });
        tokio::spawn(snapshot::run_watcher_with(
            store.clone(),
            watcher,
            snapshot.clone(),
            Some(ready_tx),
        ));
        within("first snapshot", ready_rx)
            .await
            .expect("watcher sends the first snapshot");

        let (sessions, mut services) = observability::observer(&config).await.expect("observer");
        let proxy = Arc::new(ProxyContext {
            sessions,
            ..ProxyContext::new(Arc::new(SnapshotRoutes::new(snapshot.clone())))
        });
        let mut listeners = ListenerSet::new(proxy.clone());
        listeners
            .reconcile(&config.stream.tcp, &config.stream.udp)
            .await
            .expect("bind listeners");
        services
            .start_servers(
                &config,
                proxy.clone(),
                snapshot.clone(),
                Some(store.clone()),
            )
            .await
            .expect("start control and export servers");
        let tcp = listeners.tcp_addrs()[0];
        let udp = listeners.udp_addrs()[0];
        let control = services.control_addr().expect("control api runs");
        let metrics = services.metrics_addr().expect("export server runs");
        Harness {
            dir,
            config,
            store,
            snapshot,
            proxy,
            listeners,
            services,
            tcp,
            udp,
            control,
            metrics,
            http: reqwest::Client::new(),
        }
    }

    /// `GET` on the Control API: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = within(
            path,
            self.http
                .get(format!("http://{}{path}", self.control))
                .send(),
        )
        .await
        .expect("control api answers");
        let status = response.status().as_u16();
        let body = within(path, response.json::<Value>())
            .await
            .expect("json body");
        (status, body)
    }

    /// `DELETE` on the Control API with an optional `X-API-KEY`.
    pub async fn delete(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self.http.delete(format!("http://{}{path}", self.control));
        if let Some(key) = key {
            request = request.header("X-API-KEY", key);
        }
        let response = within(path, request.send())
            .await
            .expect("control api answers");
        let status = response.status().as_u16();
        let body = within(path, response.json::<Value>())
            .await
            .expect("json body");
        (status, body)
    }

    /// The metrics exposition text from `path` on the export server.
    pub async fn scrape(&self, path: &str) -> String {
        let response = within(
            "scrape",
            self.http
                .get(format!("http://{}{path}", self.metrics))
                .send(),
        )
        .await
        .expect("export server answers");
        assert_eq!(response.status().as_u16(), 200);
        within("scrape body", response.text())
            .await
            .expect("metrics text")
    }

    /// The access log file.
    pub fn access_log(&self) -> PathBuf {
        self.config.stream.log.access_log.clone()
    }

    /// Waits until no session is live and every finished one has been reported.
    pub async fn settle(&self, sessions: u64) {
        let observe = self.proxy.sessions.clone();
        let registry = self.proxy.registry.clone();
        eventually("sessions reported", || {
            let done = registry.is_empty() && observe.sessions_finished() >= sessions;
            async move { done.then_some(()) }
        })
        .await;
    }
}

/// A route body proxying to `node` with optional extra fields.
pub fn route_to(node: SocketAddr, extra: Value) -> Value {
    let mut body = serde_json::json!({
        "upstream": {"type": "roundrobin", "nodes": {node.to_string(): 1}},
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// A TCP echo backend.
pub async fn tcp_echo() -> SocketAddr {
    testkit::backends::tcp_echo().await.0
}

/// Connects to `proxy` from `source` (any 127/8 address works on Linux).
pub async fn connect_from(source: &str, proxy: SocketAddr) -> TcpStream {
    let source = source.parse().expect("source addr");
    testkit::client::connect_from(source, proxy)
        .await
        .expect("connect to proxy")
}

/// One complete echo session of `msg` from `source`: send, read back, close, wait for EOF.
pub async fn echo_session(source: &str, proxy: SocketAddr, msg: &[u8]) {
    let mut stream = connect_from(source, proxy).await;
    assert_eq!(round_trip(&mut stream, msg).await, msg);
    stream.shutdown().await.expect("shutdown");
    let mut rest = Vec::new();
    within("eof", stream.read_to_end(&mut rest))
        .await
        .expect("read to eof");
    assert!(rest.is_empty());
}

/// A connection the proxy closes without a byte (no route): returns once closed.
pub async fn rejected_session(source: &str, proxy: SocketAddr) {
    let mut stream = connect_from(source, proxy).await;
    let mut rest = Vec::new();
    let _ = within("rejection", stream.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
}
