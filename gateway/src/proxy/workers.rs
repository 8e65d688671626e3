//! The per-core layout's side of the listeners ([`crate::runtime`]): an accept loop per worker
//! on its own `SO_REUSEPORT` socket, and UDP on worker 0. Accepted connections stay on the
//! worker that accepted them (its pipe pool and scratch buffer are thread-local).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::config::TcpListen;
use crate::proxy::{tcp, udp, ProxyContext};

/// Runs the accept loop of `listener` (bound to `local`) on every worker, each worker on its
/// own `SO_REUSEPORT` socket; resolves when all loops ended (after `stop`).
pub async fn accept_on_workers(
    workers: Vec<Handle>,
    listener: tokio::net::TcpListener,
    local: SocketAddr,
    ctx: Arc<ProxyContext>,
    stop: CancellationToken,
    listen: Arc<TcpListen>,
) {
    let mut first = match listener.into_std() {
        Ok(socket) => Some(socket),
        Err(e) => {
            tracing::error!(listen = %local, error = %e, "cannot hand the listener to a worker");
            return;
        }
    };
    let mut tasks = Vec::with_capacity(workers.len());
    for (i, handle) in workers.iter().enumerate() {
        let socket = match first.take() {
            Some(socket) => socket,
            None => match crate::proxy::listener::bind_std_tcp(local) {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::error!(worker = i, error = %e, "worker listener not opened");
                    continue;
                }
            },
        };
        let (ctx, stop, listen) = (ctx.clone(), stop.clone(), listen.clone());
        let slots = ctx.admission.worker(i);
        tasks.push(on_worker(handle, async move {
            match tokio::net::TcpListener::from_std(socket) {
                Ok(listener) => tcp::accept_loop_on(listener, ctx, stop, listen, slots).await,
                Err(e) => tracing::error!(worker = i, error = %e, "worker listener not registered"),
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Serves the UDP `socket` on worker 0; resolves when it ended (after `stop`).
pub async fn udp_on_worker(
    workers: Vec<Handle>,
    socket: tokio::net::UdpSocket,
    ctx: Arc<ProxyContext>,
    stop: CancellationToken,
    max_sessions: usize,
) {
    let (Some(handle), Ok(socket)) = (workers.first(), socket.into_std()) else {
        tracing::error!("cannot hand the udp socket to a worker");
        return;
    };
    let task = on_worker(handle, async move {
        match tokio::net::UdpSocket::from_std(socket) {
            Ok(socket) => udp::serve(socket, ctx, stop, max_sessions).await,
            Err(e) => tracing::error!(error = %e, "worker udp socket not registered"),
        }
    });
    let _ = task.await;
}

fn on_worker<F>(handle: &Handle, task: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    handle.spawn(task)
}
