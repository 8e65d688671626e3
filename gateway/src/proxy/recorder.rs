//! Follows one session on the data path and emits its [`SessionRecord`] when dropped, so every
//! early return is covered.
//!
//! A [`SessionRecorder`] is created at accept with the configuration snapshot the connection
//! pinned. It is told what happened (routed, rejected, relay end). Once routed it keeps only
//! the session's route (`Arc<ResolvedRoute>`, with its compiled plugin chain) and lets the
//! snapshot go, so a long-lived connection keeps no old route table alive. When it drops, the
//! record goes through the [`SessionPipeline`]'s sinks, then through the route's plugin log
//! phase (`syslog`), both with the configuration the session was routed with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::balancer::UpstreamRuntime;
use crate::conn::{ConnInfo, Transport};
use crate::proxy::registry::ConnectionHandle;
use crate::route::ResolvedRoute;
use crate::session::{
    reject_status, relay_status, status, RejectReason, RelayEnd, RouteRejection, SessionPipeline,
    SessionRecord,
};
use crate::snapshot::Snapshot;

/// Follows one session and emits its [`SessionRecord`] when dropped.
#[derive(Debug)]
pub struct SessionRecorder {
    pipeline: Arc<SessionPipeline>,
    /// The configuration the session pinned at accept, until it is routed.
    pinned: Option<Arc<Snapshot>>,
    /// The session's route as the pinned configuration holds it.
    route: Option<Arc<ResolvedRoute>>,
    client: SocketAddr,
    listener: SocketAddr,
    server: SocketAddr,
    transport: Transport,
    started: Instant,
    started_at: SystemTime,
    route_id: Option<String>,
    handle: Option<Arc<ConnectionHandle>>,
    status: Option<u16>,
    rejection: Option<RouteRejection>,
    upstream: Option<Arc<UpstreamRuntime>>,
}

impl SessionRecorder {
    /// Starts recording a session accepted on `listener` from `client`, served with the
    /// pinned `config`.
    pub fn start(
        pipeline: &Arc<SessionPipeline>,
        client: SocketAddr,
        listener: SocketAddr,
        transport: Transport,
        config: Arc<Snapshot>,
    ) -> SessionRecorder {
        SessionRecorder {
            pipeline: pipeline.clone(),
            pinned: Some(config),
            route: None,
            client,
            listener,
            server: listener,
            transport,
            started: Instant::now(),
            started_at: SystemTime::now(),
            route_id: None,
            handle: None,
            status: None,
            rejection: None,
            upstream: None,
        }
    }

    /// The session was routed to `route_id` (`route`: as the pinned snapshot holds it) and
    /// registered as `handle`: it counts as active on the route and its bytes feed the route's
    /// stats.
    pub fn routed(
        &mut self,
        route_id: &str,
        route: Option<&Arc<ResolvedRoute>>,
        handle: &Arc<ConnectionHandle>,
    ) {
        if !self.pipeline.live_stats_off() {
            let stats = self.pipeline.routes.get_or_create(route_id);
            stats.opened();
            handle.set_route_stats(stats);
        }
        self.route = match route {
            Some(route) => Some(route.clone()),
            None => self
                .pinned
                .as_ref()
                .and_then(|s| s.route(route_id).cloned()),
        };
        self.route_id = Some(route_id.to_owned());
        self.handle = Some(handle.clone());
        self.pinned = None;
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
        if self.route_id.is_none() && why == RouteRejection::NoUpstream {
            let found = self.pinned.as_ref().and_then(|s| s.routes.find(conn));
            if let Some(route) = found {
                self.route_id = Some(route.id.clone());
                self.route = Some(route.clone());
            }
        }
        if self.route_id.is_some() {
            self.rejection = Some(why);
        }
    }

    /// A stream plugin refused the session with nginx status `code` (403, 503, ...).
    pub fn plugin_rejected(&mut self, code: u16) {
        self.status = Some(code);
        if self.route_id.is_some() {
            self.rejection = Some(RouteRejection::Plugin);
        }
    }

    /// The session was relayed through `upstream` (for passive health checks).
    pub fn relayed_through(&mut self, upstream: Option<Arc<UpstreamRuntime>>) {
        self.upstream = upstream;
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
        let (node, bytes_in, bytes_out, route_stats) = match &self.handle {
            Some(h) => (h.node(), h.bytes_up(), h.bytes_down(), h.route_stats()),
            None => (None, 0, 0, None),
        };
        let route_id = self.route_id.take();
        let route_label = match (&self.route, &route_id) {
            (Some(route), _) => Some(route.metric_label.clone()),
            (None, Some(id)) => Some(Arc::from(id.as_str())),
            (None, None) => None,
        };
        let record = SessionRecord {
            route_id,
            listener: self.listener,
            server: self.server,
            client: self.client,
            node,
            // Nothing went wrong that was reported (e.g. killed while connecting): a normal end.
            status: self.status.unwrap_or(status::OK),
            bytes_in,
            bytes_out,
            started_at: self.started_at,
            duration: self.started.elapsed(),
            transport: self.transport,
            route_label,
            routed: self.handle.is_some(),
            rejection: self.rejection,
            upstream: self.upstream.take(),
            route_stats,
        };
        self.pipeline.finish(&record);
        if let (Some(route), false) = (&self.route, self.pipeline.live_stats_off()) {
            route.chain.log(&record);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::proxy::registry::{ConnectionRegistry, Registration, RoutedConnection};
    use crate::session::SessionSink;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    /// Keeps every record it is given.
    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<SessionRecord>>);

    impl SessionSink for Kept {
        fn finish(&self, record: &SessionRecord) {
            self.0.lock().expect("lock").push(record.clone());
        }
    }

    /// A TCP session from 127.0.0.1:5000 on 127.0.0.1:9100, registered for route 1.
    fn routed_session(
        pipeline: &Arc<SessionPipeline>,
    ) -> (Arc<ConnectionRegistry>, Registration, SessionRecorder) {
        let registry = Arc::new(ConnectionRegistry::new());
        let registration = registry.insert(RoutedConnection {
            route_id: "1".into(),
            upstream: "upstreams/1".into(),
            transport: Transport::Tcp,
            client: addr("127.0.0.1:5000"),
            local: addr("127.0.0.1:9100"),
            server: addr("127.0.0.1:9100"),
        });
        let recorder = SessionRecorder::start(
            pipeline,
            addr("127.0.0.1:5000"),
            addr("127.0.0.1:9100"),
            Transport::Tcp,
            Arc::default(),
        );
        (registry, registration, recorder)
    }

    #[test]
    fn without_live_stats_a_session_is_only_counted() {
        let kept = Arc::new(Kept::default());
        let pipeline = Arc::new(
            SessionPipeline::new()
                .with_sink(kept.clone())
                .without_live_stats(),
        );
        let (_registry, registration, mut recorder) = routed_session(&pipeline);
        recorder.routed("1", None, registration.handle());
        registration.handle().add_up(3);
        drop(recorder);
        assert!(pipeline.routes.get("1").is_none(), "no route stats");
        assert!(kept.0.lock().expect("lock").is_empty(), "no sink fed");
        assert_eq!(pipeline.sessions_finished(), 1);
        assert_eq!(
            registration.handle().bytes_up(),
            3,
            "the registry still counts"
        );
    }

    #[test]
    fn a_routed_session_is_active_until_its_recorder_drops_and_reaches_every_sink() {
        let kept = Arc::new(Kept::default());
        let pipeline = Arc::new(SessionPipeline::new().with_sink(kept.clone()));
        let (_registry, registration, mut recorder) = routed_session(&pipeline);
        recorder.routed("1", None, registration.handle());
        registration.handle().add_up(3);
        registration.handle().add_down(4);
        let stats = pipeline.routes.get("1").expect("stats exist once routed");
        assert_eq!((stats.active(), stats.total()), (1, 1));
        recorder.plugin_rejected(status::FORBIDDEN);
        drop(registration);
        drop(recorder);
        let view = stats.view();
        assert_eq!((view.active, view.bytes_in, view.bytes_out), (0, 3, 4));
        assert_eq!(view.rejected.plugin, 1);
        assert_eq!(pipeline.sessions_finished(), 1);
        let kept = kept.0.lock().expect("lock");
        assert_eq!(kept.len(), 1, "one record per session");
        let record = &kept[0];
        assert_eq!(record.route_id.as_deref(), Some("1"));
        assert_eq!((record.status, record.routed), (403, true));
        assert_eq!(record.rejection, Some(RouteRejection::Plugin));
        assert_eq!(record.route_label.as_deref(), Some("1"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_ticker_samples_every_second() {
        let pipeline = Arc::new(SessionPipeline::new());
        let stats = pipeline.routes.get_or_create("1");
        let stop = CancellationToken::new();
        let ticker = pipeline.spawn_ticker(stop.clone());
        stats.add_in(100);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(stats.view().throughput.bytes_in.last(), Some(&100));
        stop.cancel();
        ticker.await.expect("ticker ends");
    }
}
