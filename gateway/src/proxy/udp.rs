//! One UDP listener: a single socket, and a bounded table of sessions keyed by client address
//! and the address the client sent to.
//!
//! The listening socket is read in batches by [`datagram`](crate::proxy::datagram), which also
//! gives each datagram's destination (on a wildcard listener, from packet info): that is the
//! session's `$server_addr`. The first datagram of a (client, destination) pair routes
//! (`Transport::Udp`) and starts a session task that picks a node and talks to it through its
//! own connected socket; later datagrams of the pair are queued to the same session. Replies
//! go back to the client from the listening socket, sent from the address the client used.
//! A session ends after the upstream's idle timeout without traffic either way, when killed,
//! or when the listener stops. The table and each session's queue are bounded:
//! a full table turns new clients away (warned and counted), a full queue drops datagrams.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::balancer::{NodeAddr, PickState};
use crate::conn::{ConnInfo, Transport};
use crate::proxy::admission::SessionSlot;
use crate::proxy::connect::connect_with_retries;
use crate::proxy::datagram::{
    recv_connected, send_connected, Destination, ListenSocket, RecvBatch, BATCH,
};
use crate::proxy::recorder::SessionRecorder;
use crate::proxy::registry::{Registration, RoutedConnection};
use crate::proxy::source::{Routed, UpstreamNodes};
use crate::proxy::ProxyContext;
use crate::session::RejectReason;

/// Default maximum number of sessions per UDP listener.
pub const DEFAULT_MAX_SESSIONS: usize = 65536;
/// Datagrams queued per session before new ones are dropped.
const SESSION_QUEUE: usize = 256;
/// Upstream replies read per call by a session whose replies come in bursts.
const REPLY_BATCH: usize = 8;

/// A live session as seen by the listener.
struct SessionEntry {
    id: u64,
    tx: mpsc::Sender<Bytes>,
}

/// A session's key: the client and the address it sent to.
type SessionKey = (SocketAddr, SocketAddr);

/// Receives on `socket` until `stop` is cancelled; stopping ends every session of this listener.
pub async fn serve(
    socket: UdpSocket,
    ctx: Arc<ProxyContext>,
    stop: CancellationToken,
    max_sessions: usize,
) {
    let socket = match ListenSocket::new(socket) {
        Ok(socket) => Arc::new(socket),
        Err(e) => {
            tracing::error!(error = %e, "cannot set up the udp listener");
            return;
        }
    };
    let local = socket.local_addr();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let mut listener = Listener {
        sessions: HashMap::new(),
        ended: ended_tx,
        socket,
        ctx,
        stop,
        max_sessions,
    };
    let mut batch = RecvBatch::new();
    // Created once: a cancellation future registers a waiter when it is made.
    let stop = listener.stop.clone();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some((key, id)) = ended_rx.recv() => {
                if listener.sessions.get(&key).is_some_and(|s| s.id == id) {
                    listener.sessions.remove(&key);
                }
            }
            received = listener.socket.recv(&mut batch) => match received {
                Ok(()) => {
                    for (payload, client, dest) in batch.iter() {
                        listener.dispatch(payload, client, dest);
                    }
                }
                // ICMP errors surface here on some systems; they are not fatal.
                Err(e) => tracing::debug!(listen = %local, error = %e, "udp receive failed"),
            },
        }
    }
    tracing::info!(listen = %local, sessions = listener.sessions.len(), "stopped listening on udp");
}

/// The receive loop's state.
struct Listener {
    sessions: HashMap<SessionKey, SessionEntry>,
    /// Sessions report their end here, so the table forgets them.
    ended: mpsc::UnboundedSender<(SessionKey, u64)>,
    socket: Arc<ListenSocket>,
    ctx: Arc<ProxyContext>,
    stop: CancellationToken,
    max_sessions: usize,
}

impl Listener {
    /// Queues one datagram to its session, starting the session if there is none.
    fn dispatch(&mut self, payload: &[u8], client: SocketAddr, dest: Destination) {
        let ctx = &self.ctx;
        // Metrics and the registry's `listener` name the listening socket; `$server_addr`
        // (routing, access log, `server` in /v1/connections) is where the client sent to.
        let listener = self.socket.local_addr();
        let local = dest.addr;
        let key = (client, local);
        let datagram = Bytes::copy_from_slice(payload);
        let sessions = &mut self.sessions;
        if let Some(session) = sessions.get(&key) {
            if !session.tx.is_closed() {
                if session.tx.try_send(datagram).is_err() {
                    ctx.stats.udp_datagram_dropped();
                }
                return;
            }
            sessions.remove(&key);
        }
        let max_sessions = self.max_sessions;
        // A new session needs room in this listener's table and a slot of the worker's
        // `worker_connections`.
        let slot = (sessions.len() < max_sessions)
            .then(|| ctx.admission.worker(0).try_acquire())
            .flatten();
        let Some(slot) = slot else {
            let total = ctx.stats.rejected(RejectReason::SessionTableFull);
            // The recorder is dropped at the end of this block: one record for this client.
            let mut record = SessionRecorder::start(
                &ctx.sessions,
                client,
                listener,
                Transport::Udp,
                ctx.routes.pin(),
            );
            record.set_server(local);
            record.set_status(crate::session::reject_status(
                RejectReason::SessionTableFull,
            ));
            // Warn on the first and then every 1000th, not once per datagram.
            if total == 1 || total.is_multiple_of(1000) {
                tracing::warn!(listen = %local, client = %client, max_sessions, dropped_total = total, "udp session table full or worker_connections reached, dropping new session");
            }
            return;
        };
        let conn = ConnInfo {
            remote: client,
            local,
            sni: None,
            transport: Transport::Udp,
        };
        // The session's configuration, pinned for its whole life.
        let snapshot = ctx.routes.pin();
        let routed = match ctx.routes.route(&snapshot, &conn) {
            Ok(routed) => routed,
            Err(reason) => {
                ctx.stats.rejected(reason);
                let mut record = SessionRecorder::start(
                    &ctx.sessions,
                    client,
                    listener,
                    Transport::Udp,
                    snapshot,
                );
                record.set_server(local);
                record.rejected(reason, &conn);
                tracing::debug!(client = %client, listen = %local, reason = %reason, "dropping udp datagram");
                return;
            }
        };
        let registration = ctx.registry.insert(RoutedConnection::new(
            &routed,
            Transport::Udp,
            client,
            (listener, local),
        ));
        let mut recorder =
            SessionRecorder::start(&ctx.sessions, client, listener, Transport::Udp, snapshot);
        recorder.set_server(local);
        recorder.routed(
            &routed.route_id,
            routed.route.as_ref(),
            registration.handle(),
        );
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        // A fresh channel of this capacity always has room for the first datagram.
        let _ = tx.try_send(datagram);
        let id = registration.handle().id;
        sessions.insert(key, SessionEntry { id, tx });
        ctx.stats.udp_session_created();
        let session = Session {
            conn,
            routed,
            registration,
            recorder,
            _slot: slot,
            dest,
            listen: self.socket.clone(),
            stop: self.stop.clone(),
        };
        let ended_tx = self.ended.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            session.run(rx, &ctx).await;
            let _ = ended_tx.send((key, id));
        });
    }
}

/// One client's session.
struct Session {
    conn: ConnInfo,
    routed: Routed,
    registration: Registration,
    /// Declared after `registration`: dropped after it, it emits the session's record.
    recorder: SessionRecorder,
    /// The session's `worker_connections` slot, released with it.
    _slot: SessionSlot,
    /// Where the client sent to: replies leave from there.
    dest: Destination,
    listen: Arc<ListenSocket>,
    stop: CancellationToken,
}

impl Session {
    async fn run(mut self, mut rx: mpsc::Receiver<Bytes>, ctx: &ProxyContext) {
        let route_id = self.routed.route_id.clone();
        let plugins = match self
            .routed
            .chain()
            .preread(&self.conn, &route_id, None)
            .await
        {
            crate::plugins::Preread::Continue(plugins) => plugins,
            crate::plugins::Preread::Reject(code) => return self.recorder.plugin_rejected(code),
        };
        let upstream: &dyn UpstreamNodes = match &plugins.upstream {
            Some(chosen) => chosen.as_ref(),
            None => self.routed.upstream.as_ref(),
        };
        let handle = self.registration.handle();
        let client = self.conn.remote;
        let Some((socket, node, addr)) = connect_upstream(upstream, &self.conn).await else {
            ctx.stats.rejected(RejectReason::UpstreamUnavailable);
            self.recorder
                .rejected(RejectReason::UpstreamUnavailable, &self.conn);
            tracing::warn!(client = %client, route = %self.routed.route_id, "udp session: no upstream node could be reached");
            return;
        };
        handle.set_node(addr);
        upstream.session_started(&node);
        let idle = upstream.idle_timeout();
        let mut last = tokio::time::Instant::now();
        // One timer for the session, pushed back when it fires early (not re-armed per datagram).
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        // Two reply slots (64 KiB each, touched only where written) until replies come in
        // bursts: one reply leaves a slot empty, which tells the receive drained the socket.
        let mut replies = RecvBatch::with_slots(2);
        let mut queued = Vec::with_capacity(BATCH);
        // Created once, not per datagram: a cancellation future registers a waiter when made.
        let (killed, stopped) = (handle.killed(), self.stop.cancelled());
        tokio::pin!(killed, stopped);
        let end = loop {
            tokio::select! {
                _ = &mut killed => break "killed",
                _ = &mut stopped => break "listener stopped",
                () = &mut idle_timer => {
                    if last + idle <= tokio::time::Instant::now() {
                        break "idle timeout";
                    }
                    idle_timer.as_mut().reset(last + idle);
                }
                count = rx.recv_many(&mut queued, BATCH) => {
                    if count == 0 {
                        break "listener stopped";
                    }
                    let (sent, error) = send_connected(&socket, &queued).await;
                    handle.add_up(sent);
                    if let Some(e) = error {
                        tracing::debug!(node = %addr, error = %e, "udp send to upstream failed");
                    }
                    queued.clear();
                    last = tokio::time::Instant::now();
                }
                received = recv_connected(&socket, &mut replies) => match received {
                    Ok(()) => {
                        let (sent, error) = self.listen.send_batch(&replies, client, &self.dest).await;
                        handle.add_down(sent);
                        if let Some(e) = error {
                            tracing::debug!(client = %client, error = %e, "udp send to client failed");
                        }
                        if replies.is_full() && replies.slots() < REPLY_BATCH {
                            // Replies come in bursts: read several per call from now on.
                            replies = RecvBatch::with_slots(REPLY_BATCH);
                        }
                        last = tokio::time::Instant::now();
                    }
                    // ECONNREFUSED from an earlier datagram: the node may come back.
                    Err(e) => tracing::debug!(node = %addr, error = %e, "udp receive from upstream failed"),
                },
            }
        };
        upstream.session_ended(&node);
        tracing::debug!(
            id = handle.id, client = %client, route = %self.routed.route_id, node = %addr,
            bytes_up = handle.bytes_up(), bytes_down = handle.bytes_down(), end,
            "udp session finished"
        );
    }
}

/// Picks a node and opens a connected UDP socket to it (retries in [`connect_with_retries`]).
async fn connect_upstream(
    upstream: &dyn UpstreamNodes,
    conn: &ConnInfo,
) -> Option<(UdpSocket, NodeAddr, SocketAddr)> {
    connect_with_retries(upstream, conn, PickState::default(), |node| async move {
        connect_node(upstream, &node).await
    })
    .await
}

async fn connect_node(
    upstream: &dyn UpstreamNodes,
    node: &NodeAddr,
) -> std::io::Result<(UdpSocket, SocketAddr)> {
    let addrs = tokio::time::timeout(upstream.connect_timeout(), upstream.resolve(node))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "dns lookup timed out"))??;
    let addr = addrs
        .into_iter()
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address for host"))?;
    let bind: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(addr).await?;
    Ok((socket, addr))
}
