//! Where a new connection goes: the seam between the data plane and the configuration.
//!
//! A new connection pins one configuration snapshot at accept ([`RouteSource::pin`]) and every
//! later stage (TLS certificates, routing, plugins, upstream TLS, the log phase) reads that
//! same snapshot: a change that lands during the connection's set-up never mixes versions.
//! The snapshot is let go once the connection is set up (the log phase keeps only its route
//! and plugin metadata), so long-lived connections keep no old route tables alive.
//! [`RouteSource::route`] turns a [`ConnInfo`] into a [`Routed`] target (the route, its
//! upstream and the pinned snapshot) or a [`RejectReason`]; [`UpstreamNodes`] is what the TCP
//! and UDP paths need from an upstream (pick, connect and session-end reports, timeouts, DNS).
//! Production uses [`SnapshotRoutes`] over the [`SharedSnapshot`] and [`UpstreamRuntime`];
//! tests plug in fixed nodes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::balancer::{ConnectFailure, NodeAddr, PickState, UpstreamRuntime};
use crate::conn::ConnInfo;
use crate::plugins::Chain;
use crate::route::ResolvedRoute;
use crate::session::RejectReason;
use crate::snapshot::{SharedSnapshot, Snapshot};

/// What the data plane needs from an upstream.
#[async_trait]
pub trait UpstreamNodes: Send + Sync + 'static {
    /// The upstream's key (`upstreams/<id>` or `stream_routes/<id>`), for logs.
    fn key(&self) -> &str;
    /// The next node to try, `None` when out of nodes or retries.
    fn pick(&self, conn: &ConnInfo, state: &mut PickState) -> Option<NodeAddr>;
    /// The outcome of one connect attempt to `node`.
    fn report_connect(&self, node: &NodeAddr, result: Result<Duration, ConnectFailure>);
    /// A session on `node` started.
    fn session_started(&self, node: &NodeAddr);
    /// A session on `node` ended.
    fn session_ended(&self, node: &NodeAddr);
    /// Connect timeout per attempt.
    fn connect_timeout(&self) -> Duration;
    /// Idle timeout of an established session.
    fn idle_timeout(&self) -> Duration;
    /// Resolves `node` to socket addresses.
    async fn resolve(&self, node: &NodeAddr) -> std::io::Result<Vec<SocketAddr>>;
    /// `scheme: tls`: the upstream's `tls` settings (TLS to the nodes); `None` for plain TCP.
    fn upstream_tls(&self) -> Option<&model::types::UpstreamTls> {
        None
    }
}

/// `tls` of a `scheme: tls` upstream that sets none.
static NO_TLS_SETTINGS: model::types::UpstreamTls = model::types::UpstreamTls {
    client_cert: None,
    client_key: None,
    client_cert_id: None,
    verify: None,
};

#[async_trait]
impl UpstreamNodes for UpstreamRuntime {
    fn key(&self) -> &str {
        &self.key
    }
    fn pick(&self, conn: &ConnInfo, state: &mut PickState) -> Option<NodeAddr> {
        UpstreamRuntime::pick(self, conn, state)
    }
    fn report_connect(&self, node: &NodeAddr, result: Result<Duration, ConnectFailure>) {
        UpstreamRuntime::report_connect(self, node, result)
    }
    fn session_started(&self, node: &NodeAddr) {
        UpstreamRuntime::session_started(self, node)
    }
    fn session_ended(&self, node: &NodeAddr) {
        UpstreamRuntime::session_ended(self, node)
    }
    fn connect_timeout(&self) -> Duration {
        UpstreamRuntime::connect_timeout(self)
    }
    fn idle_timeout(&self) -> Duration {
        UpstreamRuntime::idle_timeout(self)
    }
    async fn resolve(&self, node: &NodeAddr) -> std::io::Result<Vec<SocketAddr>> {
        UpstreamRuntime::resolve(self, node).await
    }
    fn upstream_tls(&self) -> Option<&model::types::UpstreamTls> {
        (self.config.scheme.as_deref() == Some("tls"))
            .then(|| self.config.tls.as_ref().unwrap_or(&NO_TLS_SETTINGS))
    }
}

/// The outcome of routing one connection.
#[derive(Clone)]
pub struct Routed {
    /// The stream route's id.
    pub route_id: String,
    /// The route as the pinned snapshot holds it (`None` for fixed test routes).
    pub route: Option<Arc<ResolvedRoute>>,
    /// The upstream to balance over.
    pub upstream: Arc<dyn UpstreamNodes>,
}

/// The chain of a target without a compiled route (fixed test routes): no plugin.
static NO_PLUGINS: std::sync::LazyLock<Chain> = std::sync::LazyLock::new(Chain::default);

impl Routed {
    /// The route's compiled stream plugins (none for fixed test routes).
    pub fn chain(&self) -> &Chain {
        self.route
            .as_ref()
            .map_or(&NO_PLUGINS, |route| &route.chain)
    }
}

impl std::fmt::Debug for Routed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed")
            .field("route_id", &self.route_id)
            .field("upstream", &self.upstream.key())
            .finish()
    }
}

/// Routes new connections.
pub trait RouteSource: Send + Sync + 'static {
    /// The configuration a new connection (TCP) or session (UDP) is served with: loaded once,
    /// at accept, and handed to every later stage.
    fn pin(&self) -> Arc<Snapshot>;
    /// The target for `conn` in `snapshot` (the pinned one), or why there is none.
    fn route(&self, snapshot: &Arc<Snapshot>, conn: &ConnInfo) -> Result<Routed, RejectReason>;
}

/// The production [`RouteSource`]: loads the current snapshot once and asks its route table.
#[derive(Debug, Clone)]
pub struct SnapshotRoutes {
    snapshot: SharedSnapshot,
}

impl SnapshotRoutes {
    /// Routes by whatever `snapshot` holds at each accept.
    pub fn new(snapshot: SharedSnapshot) -> Self {
        SnapshotRoutes { snapshot }
    }
}

impl RouteSource for SnapshotRoutes {
    fn pin(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn route(&self, snapshot: &Arc<Snapshot>, conn: &ConnInfo) -> Result<Routed, RejectReason> {
        let route = snapshot.routes.find(conn).ok_or(RejectReason::NoRoute)?;
        let upstream = route.upstream.clone().ok_or(RejectReason::NoUpstream)?;
        Ok(Routed {
            route_id: route.id.clone(),
            route: Some(route.clone()),
            upstream,
        })
    }
}
