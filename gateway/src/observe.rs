//! The one sink every finished stream session goes through: a [`SessionRecord`] (route,
//! listener, client, node, status, bytes each way, duration, protocol) feeds the per-route
//! stats ([`crate::routestats`]), the Prometheus counters ([`crate::metrics`]), the access
//! log ([`crate::accesslog`]) and the `syslog` plugin ([`crate::plugins::syslog`]).
//!
//! The data path holds a [`SessionRecorder`] per connection (TCP) or session (UDP), created at
//! accept with the configuration snapshot the connection pinned. It is told what happened
//! (routed, rejected, relay end) and emits exactly one record when dropped, so every early
//! return is covered. The record carries that pinned snapshot, so the log phase (route names,
//! the syslog plugin's conf) reads the same configuration version the connection was routed
//! with. Passive health is reported by the data path itself, where the upstream that was used
//! is in hand. Status codes follow nginx's stream `$status` (see [`status`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accesslog::AccessLogSender;
use crate::metrics::StreamMetrics;
use crate::plugins::syslog::SyslogLogger;
use crate::proxy::registry::ConnectionHandle;
use crate::proxy::relay::RelayEnd;
use crate::proxy::stats::RejectReason;
use crate::router::{ConnInfo, Transport};
use crate::routestats::{RouteRejection, RouteStats, RouteStatsMap};
use crate::snapshot::{ResolvedRoute, SessionConfig, Snapshot};

/// nginx stream `$status` values used here.
pub mod status {
    /// The session ended normally (either side closed, killed, UDP idle end).
    pub const OK: u16 = 200;
    /// A client error: reset or read error during the relay, bad preread.
    pub const BAD_REQUEST: u16 = 400;
    /// Refused by an access rule (ip-restriction).
    pub const FORBIDDEN: u16 = 403;
    /// Internal error (e.g. a route without an upstream).
    pub const INTERNAL: u16 = 500;
    /// Upstream connect failure or timeout, TCP idle timeout.
    pub const BAD_GATEWAY: u16 = 502;
    /// No route, connection limit, UDP session table full.
    pub const UNAVAILABLE: u16 = 503;
}

/// One finished session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The stream route, `None` when none matched.
    pub route_id: Option<String>,
    /// The listening address that accepted it.
    pub listener: SocketAddr,
    /// The address the client reached (`$server_addr:$server_port`): `listener`, or on a
    /// wildcard listener the connection's local address / the UDP datagrams' destination.
    pub server: SocketAddr,
    pub client: SocketAddr,
    /// The upstream node, once connected.
    pub node: Option<SocketAddr>,
    pub status: u16,
    /// Client → upstream (nginx `$bytes_received`).
    pub bytes_in: u64,
    /// Upstream → client (nginx `$bytes_sent`).
    pub bytes_out: u64,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub transport: Transport,
    /// What the log phase needs of the configuration the session was routed with (`None`
    /// for records made elsewhere).
    pub config: Option<SessionConfig>,
}

impl SessionRecord {
    /// The session's route as the configuration it was routed with holds it.
    pub fn route(&self) -> Option<&Arc<ResolvedRoute>> {
        self.config.as_ref()?.route.as_ref()
    }
}

/// The status a rejection reason stands for.
pub fn reject_status(reason: RejectReason) -> u16 {
    match reason {
        RejectReason::NoRoute | RejectReason::SessionTableFull => status::UNAVAILABLE,
        RejectReason::NoUpstream => status::INTERNAL,
        RejectReason::UpstreamUnavailable => status::BAD_GATEWAY,
        // nginx: a bad PROXY header is a client error; a failed handshake an internal one.
        RejectReason::ProxyProtocol => status::BAD_REQUEST,
        RejectReason::TlsHandshake => status::INTERNAL,
    }
}

/// The status a relay end stands for (`udp`: an idle end is the normal end of a session).
pub fn relay_status(end: &RelayEnd, transport: Transport) -> u16 {
    match end {
        RelayEnd::Closed | RelayEnd::Killed => status::OK,
        RelayEnd::IdleTimeout if transport == Transport::Udp => status::OK,
        RelayEnd::IdleTimeout => status::BAD_GATEWAY,
        RelayEnd::Error(_) => status::BAD_REQUEST,
    }
}

/// The observability sink shared by every listener.
#[derive(Debug, Default)]
pub struct Observer {
    /// Per-route live stats.
    pub routes: RouteStatsMap,
    /// Counters behind the Prometheus export.
    pub metrics: StreamMetrics,
    access_log: Option<AccessLogSender>,
    syslog: Option<SyslogLogger>,
    finished: AtomicU64,
    /// Live stats off (benchmarks only, see [`Observer::without_live_stats`]).
    stats_off: bool,
}

impl Observer {
    /// A sink feeding route stats and metrics only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also writes each record to the access log.
    pub fn with_access_log(mut self, log: AccessLogSender) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Also runs the `syslog` stream plugin's log phase for each record.
    pub fn with_syslog(mut self, syslog: SyslogLogger) -> Self {
        self.syslog = Some(syslog);
        self
    }

    /// Feeds nothing: no route stats, Prometheus counters, access log or syslog; sessions are
    /// only counted. For `make bench`'s measurement of what live stats cost
    /// (`APISIX_GATEWAY_NO_LIVE_STATS=1`); the connection registry stays on, since kill and
    /// graceful drain depend on it.
    pub fn without_live_stats(mut self) -> Self {
        self.stats_off = true;
        self
    }

    /// The syslog plugin's logger, when set.
    pub fn syslog(&self) -> Option<&SyslogLogger> {
        self.syslog.as_ref()
    }

    /// The access log writer, when enabled.
    pub fn access_log(&self) -> Option<&AccessLogSender> {
        self.access_log.as_ref()
    }

    /// Starts recording a session accepted on `listener` from `client`, served with the
    /// pinned `config`.
    pub fn session(
        self: &Arc<Self>,
        client: SocketAddr,
        listener: SocketAddr,
        transport: Transport,
        config: Arc<Snapshot>,
    ) -> SessionRecorder {
        SessionRecorder {
            observer: self.clone(),
            pinned: Some(config),
            log_config: None,
            client,
            listener,
            server: listener,
            transport,
            started: Instant::now(),
            started_at: SystemTime::now(),
            route_id: None,
            route: None,
            handle: None,
            status: None,
        }
    }

    /// Takes one finished session.
    pub fn finish(&self, record: SessionRecord) {
        if self.stats_off {
            self.finished.fetch_add(1, Ordering::Release);
            return;
        }
        let named = route_name(&record);
        let label = named
            .as_deref()
            .or(record.route_id.as_deref())
            .unwrap_or("");
        self.metrics.record(&record, label);
        if let Some(log) = &self.access_log {
            log.send(&record);
        }
        if let Some(syslog) = &self.syslog {
            syslog.log(&record);
        }
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Sessions reported so far (routed or not).
    pub fn sessions_finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    /// Starts the 1 s ticker that advances every route's throughput ring; ends with `stop`.
    pub fn spawn_ticker(self: &Arc<Self>, stop: CancellationToken) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => me.routes.tick(),
                }
            }
        })
    }
}

/// The route's name when it is the `route` label: its `prometheus` plugin sets
/// `prefer_name: true` and it has one (otherwise the label is the id).
fn route_name(record: &SessionRecord) -> Option<String> {
    let route = record.route()?;
    let prefer_name = route
        .plugins
        .get("prometheus")
        .and_then(|conf| conf.get("prefer_name"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    match (&route.name, prefer_name) {
        (Some(name), true) if !name.is_empty() => Some(name.clone()),
        _ => None,
    }
}

/// Follows one session and emits its [`SessionRecord`] when dropped.
#[derive(Debug)]
pub struct SessionRecorder {
    observer: Arc<Observer>,
    /// The configuration the session pinned at accept, until it is routed (then only what the
    /// log phase needs is kept, in `log_config`).
    pinned: Option<Arc<Snapshot>>,
    log_config: Option<SessionConfig>,
    client: SocketAddr,
    listener: SocketAddr,
    server: SocketAddr,
    transport: Transport,
    started: Instant,
    started_at: SystemTime,
    route_id: Option<String>,
    route: Option<Arc<RouteStats>>,
    handle: Option<Arc<ConnectionHandle>>,
    status: Option<u16>,
}

impl SessionRecorder {
    /// The session was routed to `route_id` and registered as `handle`: it counts as active
    /// on the route and its bytes feed the route's stats.
    pub fn routed(&mut self, route_id: &str, handle: &Arc<ConnectionHandle>) {
        if !self.observer.stats_off {
            let stats = self.observer.routes.get_or_create(route_id);
            stats.opened();
            handle.set_route_stats(stats.clone());
            self.route = Some(stats);
        }
        self.route_id = Some(route_id.to_owned());
        self.handle = Some(handle.clone());
        self.settle_config();
    }

    /// Keeps what the log phase needs of the pinned snapshot and lets the snapshot go.
    fn settle_config(&mut self) {
        if let Some(snapshot) = self.pinned.take() {
            self.log_config = Some(SessionConfig::of(&snapshot, self.route_id.as_deref()));
        }
    }

    /// The client reached `server` (`$server_addr:$server_port`; the listener's address unless
    /// set).
    pub fn set_server(&mut self, server: SocketAddr) {
        self.server = server;
    }

    /// The session was turned away for `reason` (counted on its route when there is one).
    pub fn rejected(&mut self, reason: RejectReason, conn: &ConnInfo) {
        self.status = Some(reject_status(reason));
        let why = match reason {
            RejectReason::UpstreamUnavailable => RouteRejection::ConnectFailed,
            RejectReason::NoUpstream => RouteRejection::NoUpstream,
            RejectReason::NoRoute
            | RejectReason::SessionTableFull
            | RejectReason::ProxyProtocol
            | RejectReason::TlsHandshake => return,
        };
        if self.route.is_none() && why == RouteRejection::NoUpstream {
            let found = self.pinned.as_ref().and_then(|s| s.routes.find(conn));
            if let Some(id) = found.map(|r| r.id.clone()) {
                self.route = Some(self.observer.routes.get_or_create(&id));
                self.route_id = Some(id);
            }
        }
        if let Some(route) = &self.route {
            route.rejected(why);
        }
    }

    /// A stream plugin refused the session with nginx status `code` (403, 503, ...).
    pub fn plugin_rejected(&mut self, code: u16) {
        self.status = Some(code);
        if let Some(route) = &self.route {
            route.rejected(RouteRejection::Plugin);
        }
    }

    /// The relay ended this way.
    pub fn relay_ended(&mut self, end: &RelayEnd) {
        self.status = Some(relay_status(end, self.transport));
    }

    /// Sets the status explicitly (last call wins).
    pub fn set_status(&mut self, code: u16) {
        self.status = Some(code);
    }
}

impl Drop for SessionRecorder {
    fn drop(&mut self) {
        // Routed sessions carry their active count until here, rejected ones too.
        if let (Some(route), Some(_)) = (&self.route, &self.handle) {
            route.closed();
        }
        let (node, bytes_in, bytes_out) = match &self.handle {
            Some(h) => (h.node(), h.bytes_up(), h.bytes_down()),
            None => (None, 0, 0),
        };
        self.settle_config();
        // Nothing went wrong that was reported (e.g. killed while connecting): a normal end.
        let status = self.status.unwrap_or(status::OK);
        self.observer.finish(SessionRecord {
            route_id: self.route_id.take(),
            listener: self.listener,
            server: self.server,
            client: self.client,
            node,
            status,
            bytes_in,
            bytes_out,
            started_at: self.started_at,
            duration: self.started.elapsed(),
            transport: self.transport,
            config: self.log_config.take(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::registry::{ConnectionRegistry, NewConnection, Registration};

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    #[test]
    fn statuses_follow_nginx_stream() {
        assert_eq!(reject_status(RejectReason::NoRoute), 503);
        assert_eq!(reject_status(RejectReason::SessionTableFull), 503);
        assert_eq!(reject_status(RejectReason::NoUpstream), 500);
        assert_eq!(reject_status(RejectReason::UpstreamUnavailable), 502);
        assert_eq!(relay_status(&RelayEnd::Closed, Transport::Tcp), 200);
        assert_eq!(relay_status(&RelayEnd::Killed, Transport::Tcp), 200);
        assert_eq!(relay_status(&RelayEnd::IdleTimeout, Transport::Tcp), 502);
        assert_eq!(relay_status(&RelayEnd::IdleTimeout, Transport::Udp), 200);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(relay_status(&RelayEnd::Error(reset), Transport::Tcp), 400);
    }

    /// A TCP session from 127.0.0.1:5000 on 127.0.0.1:9100, registered for route 1.
    fn routed_session(
        observer: &Arc<Observer>,
    ) -> (Arc<ConnectionRegistry>, Registration, SessionRecorder) {
        let registry = Arc::new(ConnectionRegistry::new());
        let registration = registry.insert(NewConnection {
            route_id: "1".into(),
            upstream: "upstreams/1".into(),
            transport: Transport::Tcp,
            client: addr("127.0.0.1:5000"),
            local: addr("127.0.0.1:9100"),
            server: addr("127.0.0.1:9100"),
        });
        let recorder = observer.session(
            addr("127.0.0.1:5000"),
            addr("127.0.0.1:9100"),
            Transport::Tcp,
            Arc::default(),
        );
        (registry, registration, recorder)
    }

    #[test]
    fn without_live_stats_a_session_is_only_counted() {
        let observer = Arc::new(Observer::new().without_live_stats());
        let (_registry, registration, mut recorder) = routed_session(&observer);
        recorder.routed("1", registration.handle());
        registration.handle().add_up(3);
        drop(recorder);
        assert!(observer.routes.get("1").is_none(), "no route stats");
        assert_eq!(observer.sessions_finished(), 1);
        assert_eq!(
            registration.handle().bytes_up(),
            3,
            "the registry still counts"
        );
    }

    #[test]
    fn a_routed_session_is_active_until_its_recorder_drops() {
        let observer = Arc::new(Observer::new());
        let (_registry, registration, mut recorder) = routed_session(&observer);
        recorder.routed("1", registration.handle());
        registration.handle().add_up(3);
        registration.handle().add_down(4);
        let stats = observer.routes.get("1").expect("stats exist once routed");
        assert_eq!((stats.active(), stats.total()), (1, 1));
        recorder.plugin_rejected(status::FORBIDDEN);
        drop(registration);
        drop(recorder);
        let view = stats.view();
        assert_eq!((view.active, view.bytes_in, view.bytes_out), (0, 3, 4));
        assert_eq!(view.rejected.plugin, 1);
        assert_eq!(observer.sessions_finished(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ticker_samples_every_second() {
        let observer = Arc::new(Observer::new());
        let stats = observer.routes.get_or_create("1");
        let stop = CancellationToken::new();
        let ticker = observer.spawn_ticker(stop.clone());
        stats.add_in(100);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(stats.view().throughput.bytes_in.last(), Some(&100));
        stop.cancel();
        ticker.await.expect("ticker ends");
    }
}
