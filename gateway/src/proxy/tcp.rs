//! One TCP listener's accept loop and the life of each accepted connection:
//! route → pick, connect and set up the upstream leg (with retries over nodes, see
//! [`crate::proxy::connect`]) → relay → log.
//!
//! The connection pins the configuration once, at accept, and every step below reads that
//! snapshot: TLS certificates, routing, plugins, upstream TLS and the log phase. A connection that finds no route, no
//! upstream or no reachable node is closed without a byte sent, and the reason is counted in
//! [`ProxyStats`](crate::proxy::stats::ProxyStats). A routed connection is listed in the
//! [`ConnectionRegistry`](crate::proxy::registry::ConnectionRegistry) until it ends, so it can be
//! listed, killed and drained.
//!
//! Before routing, [`accept_front`] runs the listener's PROXY protocol / TLS / SNI preread
//! steps; after connecting, [`prepare_upstream`] sends the PROXY header and starts TLS to the
//! upstream when configured (see [`crate::tls`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::balancer::{NodeAddr, PickState};
use crate::config::TcpListen;
use crate::conn::{ConnInfo, Transport};
use crate::proxy::admission::SessionSlots;
pub use crate::proxy::connect::format_node;
use crate::proxy::connect::{connect_tcp, connect_with_retries};
use crate::proxy::recorder::SessionRecorder;
use crate::proxy::registry::{FrontInfo, RoutedConnection};
use crate::proxy::relay::RelayTerms;
use crate::proxy::source::UpstreamNodes;
use crate::proxy::tls::front::accept_front;
use crate::proxy::tls::stream::relay_streams;
use crate::proxy::tls::upstream::{prepare_upstream, UpstreamLeg};
use crate::proxy::ProxyContext;
use crate::session::RejectReason;
use crate::session::RelayEnd;

/// Accepts on `listener` until `stop` is cancelled, spawning one task per connection.
/// Stopping closes the listening socket only; accepted connections carry on.
pub async fn accept_loop(listener: TcpListener, ctx: Arc<ProxyContext>, stop: CancellationToken) {
    let slots = ctx.admission.worker(0);
    accept_loop_on(listener, ctx, stop, Arc::new(plain_listen()), slots).await
}

/// A plain TCP listener's options (no TLS, no PROXY protocol).
fn plain_listen() -> TcpListen {
    TcpListen {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }
}

/// [`accept_loop`] for a listener configured as `listen` (TLS, SNI preread, PROXY protocol),
/// taking a session slot from `slots` before each accept (at the cap it waits, and clients
/// wait in the kernel backlog).
pub async fn accept_loop_on(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    stop: CancellationToken,
    listen: Arc<TcpListen>,
    slots: Arc<SessionSlots>,
) {
    let local = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!(error = %e, "tcp listener has no local address");
            return;
        }
    };
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => break,
            slot = slots.acquire() => slot,
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                ctx.stats.tcp_accepted();
                let ctx = ctx.clone();
                let listen = listen.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    serve_connection(stream, remote, local, ctx, &listen).await
                });
            }
            Err(e) => {
                // EMFILE/ENFILE and friends: back off a little instead of spinning.
                tracing::warn!(listen = %local, error = %e, "tcp accept failed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
    tracing::info!(listen = %local, "stopped listening on tcp");
}

/// Serves one accepted client connection to its end.
pub async fn handle_connection(
    client: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    ctx: Arc<ProxyContext>,
) {
    serve_connection(client, remote, local, ctx, &plain_listen()).await
}

/// [`handle_connection`] on a listener configured as `listen`: the front (PROXY header, TLS
/// or SNI preread) runs first and may change the client address and set the SNI.
pub async fn serve_connection(
    client: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    ctx: Arc<ProxyContext>,
    listen: &TcpListen,
) {
    // `$server_addr` is the address the client reached, not the (possibly wildcard) listen. A
    // listener bound to one address can only be reached there: no getsockname(2) needed.
    let server_addr = if local.ip().is_unspecified() {
        client.local_addr().unwrap_or(local)
    } else {
        local
    };
    let snapshot = ctx.routes.pin();
    let mut session = SessionRecorder::start(
        &ctx.sessions,
        remote,
        local,
        Transport::Tcp,
        snapshot.clone(),
    );
    session.set_server(server_addr);
    if let Err(e) = client.set_nodelay(true) {
        tracing::debug!(client = %remote, error = %e, "cannot set TCP_NODELAY on client");
    }
    let conn = ConnInfo {
        remote,
        local: server_addr,
        sni: None,
        transport: Transport::Tcp,
    };
    // The set-up steps are boxed: their state is freed before the relay, so an idle
    // connection's task holds only the relay's state (see README, Benchmark).
    let front = accept_front(client, conn.clone(), listen, &ctx.tls, &snapshot);
    let (client, conn) = match Box::pin(front).await {
        Ok(front) => front,
        Err(e) => {
            ctx.stats.rejected(e.reason());
            session.rejected(e.reason(), &conn);
            tracing::info!(client = %remote, listen = %local, error = %e, "closing tcp connection");
            return;
        }
    };
    let remote = conn.remote;
    let routed = match ctx.routes.route(&snapshot, &conn) {
        Ok(routed) => routed,
        Err(reason) => {
            ctx.stats.rejected(reason);
            session.rejected(reason, &conn);
            tracing::info!(client = %remote, listen = %local, reason = %reason, "closing tcp connection");
            return;
        }
    };
    let placed = RoutedConnection::new(&routed, Transport::Tcp, remote, (local, server_addr));
    let registration = ctx.registry.insert(placed);
    let handle = registration.handle();
    handle.set_front(FrontInfo {
        tls: matches!(client, crate::proxy::tls::stream::ClientStream::Tls(_)),
        sni: conn.sni.clone(),
    });
    session.routed(&routed.route_id, routed.route.as_ref(), handle);
    let plain = match &client {
        crate::proxy::tls::stream::ClientStream::Plain(tcp) => Some(tcp),
        crate::proxy::tls::stream::ClientStream::Tls(_) => None,
    };
    let plugins = tokio::select! {
        _ = handle.killed() => return,
        verdict = Box::pin(routed.chain().preread(&conn, &routed.route_id, plain)) => verdict,
    };
    let plugins = match plugins {
        crate::plugins::Preread::Continue(plugins) => plugins,
        crate::plugins::Preread::Reject(code) => return session.plugin_rejected(code),
    };
    let upstream: &dyn UpstreamNodes = match &plugins.upstream {
        Some(chosen) => chosen.as_ref(),
        None => routed.upstream.as_ref(),
    };
    let pick = PickState::with_vars(plugins.vars.clone());
    let leg = UpstreamLeg {
        proxy_protocol: listen.proxy_protocol_to_upstream,
        scheme_tls: upstream.upstream_tls(),
        tls: &ctx.tls,
        snapshot: &snapshot,
    };
    let setup = |node: NodeAddr| {
        let conn = &conn;
        async move {
            let (stream, addr) = connect_node(upstream, &node).await?;
            let leg = prepare_upstream(stream, &node.host, conn, leg)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("{addr}: {e}")))?;
            Ok::<_, std::io::Error>((leg, addr))
        }
    };
    let connected = tokio::select! {
        _ = handle.killed() => return,
        connected = Box::pin(connect_with_retries(upstream, &conn, pick, setup)) => connected,
    };
    let Some((server, node, addr)) = connected else {
        ctx.stats.rejected(RejectReason::UpstreamUnavailable);
        session.rejected(RejectReason::UpstreamUnavailable, &conn);
        tracing::warn!(
            client = %remote, route = %routed.route_id, upstream = %upstream.key(),
            "closing tcp connection: no upstream node could be reached"
        );
        return;
    };
    // Set up: the pinned snapshot is not needed any more (the session keeps what its log
    // phase needs), so a long relay holds no old configuration.
    drop(snapshot);
    handle.set_node(addr);
    upstream.session_started(&node);
    let outcome = relay_streams(
        ctx.relay,
        client,
        server,
        RelayTerms {
            busy: ctx.busy_poll.as_ref(),
            ..RelayTerms::new(upstream.idle_timeout(), handle.as_ref())
        },
        handle.killed(),
    )
    .await;
    upstream.session_ended(&node);
    session.relayed_through(
        plugins
            .upstream
            .clone()
            .or_else(|| routed.route.as_ref().and_then(|r| r.upstream.clone())),
    );
    session.relay_ended(&outcome.end);
    let end = match &outcome.end {
        RelayEnd::Closed => "closed".to_string(),
        RelayEnd::IdleTimeout => "idle timeout".to_string(),
        RelayEnd::Killed => "killed".to_string(),
        RelayEnd::Error(e) => format!("error: {e}"),
    };
    tracing::debug!(
        id = handle.id, client = %remote, route = %routed.route_id, node = %addr,
        bytes_up = outcome.bytes_up, bytes_down = outcome.bytes_down,
        duration_ms = handle.age().as_millis() as u64, end = %end,
        "tcp connection finished"
    );
}

/// Resolves `node` and connects to its addresses in turn, each within the connect timeout
/// (with `TCP_NODELAY`, see [`connect_tcp`]).
async fn connect_node(
    upstream: &dyn UpstreamNodes,
    node: &NodeAddr,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    let timeout = upstream.connect_timeout();
    let addrs = tokio::time::timeout(timeout, upstream.resolve(node))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "dns lookup timed out"))??;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address for host");
    for addr in addrs {
        match tokio::time::timeout(timeout, connect_tcp(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => last = std::io::Error::new(e.kind(), format!("{addr}: {e}")),
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{addr}: connect timed out after {timeout:?}"),
                )
            }
        }
    }
    Err(last)
}
