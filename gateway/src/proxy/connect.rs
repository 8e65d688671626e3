//! Upstream connection with retries, one loop for every transport: pick a node, set up the
//! upstream leg (TCP connect, PROXY header, TLS handshake; or a connected UDP socket), report
//! the outcome to the balancer (passive health checks, `ewma`), and on failure try the next
//! pick until the balancer's `retries` / `retry_timeout` run out. A failure at any step of the
//! leg (a refused connect, a failed TLS handshake, a PROXY header that cannot be sent) counts
//! against that node and moves on to the next one, as nginx's `proxy_next_upstream` does.
//!
//! [`connect_tcp`] is the TCP connect of the upstream leg.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::balancer::{ConnectFailure, NodeAddr, PickState};
use crate::conn::ConnInfo;
use crate::proxy::source::UpstreamNodes;

/// Picks nodes from `upstream` and runs `setup` on each until one succeeds; returns the leg,
/// the node and the address it reached. An error of kind `TimedOut` counts as a passive
/// timeout, any other as a TCP failure. `None` when the balancer runs out of nodes or retries.
pub async fn connect_with_retries<T, F, Fut>(
    upstream: &dyn UpstreamNodes,
    conn: &ConnInfo,
    mut state: PickState,
    mut setup: F,
) -> Option<(T, NodeAddr, SocketAddr)>
where
    F: FnMut(NodeAddr) -> Fut,
    Fut: Future<Output = std::io::Result<(T, SocketAddr)>>,
{
    while let Some(node) = upstream.pick(conn, &mut state) {
        if !state.tried.contains(&node) {
            state.tried.push(node.clone());
        }
        let started = Instant::now();
        match setup(node.clone()).await {
            Ok((leg, addr)) => {
                upstream.report_connect(&node, Ok(started.elapsed()));
                return Some((leg, node, addr));
            }
            Err(e) => {
                upstream.report_connect(&node, Err(ConnectFailure::of(&e)));
                tracing::warn!(
                    upstream = %upstream.key(), node = %format_node(&node), error = %e,
                    "upstream connect failed"
                );
            }
        }
    }
    None
}

/// `host:port` for logs.
pub fn format_node(node: &NodeAddr) -> String {
    format!("{}:{}", node.host, node.port)
}

/// Connects a TCP socket to `addr` with `TCP_NODELAY` set.
///
/// Like `TcpStream::connect`, but the socket option is set before the connect, and success is
/// read from the readiness event itself (writable without error or hang-up) instead of asking
/// `getsockopt(SO_ERROR)` every time: one syscall less per connection. Only a failed connect
/// asks the socket for its error.
pub async fn connect_tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if let Err(e) = socket.set_tcp_nodelay(true) {
        tracing::debug!(node = %addr, error = %e, "cannot set TCP_NODELAY on upstream");
    }
    let in_progress = match socket.connect(&addr.into()) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => true,
        Err(e) => return Err(e),
    };
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    if in_progress {
        let ready = stream.ready(Interest::WRITABLE | Interest::ERROR).await?;
        if ready.is_error() || ready.is_write_closed() {
            return Err(stream.take_error()?.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionRefused, "connect failed")
            }));
        }
    }
    Ok(stream)
}
