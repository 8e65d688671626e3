//! The data plane: stream listeners, the TCP relay and UDP sessions.
//!
//! Flow: [`listener`] binds the configured sockets and runs one accept task each →
//! [`tcp`] (or [`udp`]) routes each new connection through a [`source::RouteSource`]
//! (the configuration snapshot in production) → picks and connects an upstream node →
//! [`relay`] moves bytes until the end. Live connections are listed in [`registry`];
//! rejections are counted in [`stats`]; [`recorder`] follows each session and emits its
//! record to the [`SessionPipeline`] when it ends.

pub mod admission;
pub mod busy_poll;
pub mod connect;
pub mod datagram;
pub mod listener;
pub mod recorder;
pub mod registry;
pub mod relay;
pub mod source;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod workers;

use std::sync::Arc;

use crate::proxy::registry::ConnectionRegistry;
use crate::proxy::source::RouteSource;
use crate::proxy::stats::ProxyStats;
use crate::session::SessionPipeline;

/// What every listener shares.
pub struct ProxyContext {
    /// Routes new connections.
    pub routes: Arc<dyn RouteSource>,
    /// Live connections and sessions.
    pub registry: Arc<ConnectionRegistry>,
    /// Data-plane counters.
    pub stats: Arc<ProxyStats>,
    /// Where finished sessions are reported (route stats, metrics, access log).
    pub sessions: Arc<SessionPipeline>,
    /// SSL objects, TLS and PROXY protocol settings (see [`crate::tls`]).
    pub tls: Arc<crate::proxy::tls::TlsContext>,
    /// The engine that relays plain TCP (`apisix.data_plane.relay`).
    pub relay: relay::RelayEngine,
    /// Session slots per worker (`nginx_config.event.worker_connections`).
    pub admission: Arc<admission::Admission>,
    /// The low-latency mode (`apisix.stream_proxy.busy_poll_us`), when on.
    pub busy_poll: Option<busy_poll::BusyPoll>,
}

impl ProxyContext {
    /// A context routing with `routes`, with a fresh registry and counters.
    pub fn new(routes: Arc<dyn RouteSource>) -> Self {
        ProxyContext {
            routes,
            registry: Arc::new(ConnectionRegistry::new()),
            stats: Arc::new(ProxyStats::default()),
            sessions: Arc::new(SessionPipeline::new()),
            tls: Arc::new(crate::proxy::tls::TlsContext::default()),
            relay: relay::RelayEngine::default(),
            admission: Arc::default(),
            busy_poll: None,
        }
    }

    /// Uses `tls` for certificates and the connection front settings.
    pub fn with_tls(mut self, tls: Arc<crate::proxy::tls::TlsContext>) -> Self {
        self.tls = tls;
        self
    }
}

impl std::fmt::Debug for ProxyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyContext")
            .field("live", &self.registry.len())
            .finish_non_exhaustive()
    }
}
