//! Upstream connection with retries, one loop for every transport: pick a node, set up the
//! upstream leg (TCP connect, PROXY header, TLS handshake; or a connected UDP socket), report
//! the outcome to the balancer (passive health checks, `ewma`), and on failure try the next
//! pick until the balancer's `retries` / `retry_timeout` run out. A failure at any step of the
//! leg (a refused connect, a failed TLS handshake, a PROXY header that cannot be sent) counts
//! against that node and moves on to the next one, as nginx's `proxy_next_upstream` does.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use crate::balancer::{ConnectFailure, NodeAddr, PickState};
use crate::proxy::source::UpstreamNodes;
use crate::router::ConnInfo;

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
