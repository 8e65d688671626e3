//! The runtime layout (`apisix.worker_processes`): which tokio runtimes run the data plane.
//!
//! Two layouts, chosen at start (`APISIX_GATEWAY_RUNTIME`, see [`Layout::from_env`]):
//! - [`Layout::MultiThread`] (default): everything on one tokio multi-thread runtime with
//!   `worker_processes` worker threads. Kept because `make bench` (pinned, one worker) measured
//!   it as fast or faster on most figures (README, Benchmark: runtime layout).
//! - [`Layout::PerCore`] (`APISIX_GATEWAY_RUNTIME=percore`): one `current_thread` runtime per
//!   worker, each on its own thread. Every TCP listen address gets one `SO_REUSEPORT` socket per worker, accepted
//!   connections stay on the worker that accepted them (its pipe pool and scratch buffer are
//!   thread-local), UDP listeners run on worker 0. The control plane (Admin API, store watch,
//!   health checks, Control API) runs on a separate small `current_thread` runtime.
//!
//! `make bench` compares both (`BENCH_RUNTIME=multi|percore`); see the README's Benchmark section.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio_util::sync::CancellationToken;

use crate::config::TcpListen;
use crate::proxy::{tcp, udp, ProxyContext};

/// How the data plane is laid out on threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One `current_thread` runtime per worker with `SO_REUSEPORT` listeners.
    PerCore,
    /// One tokio multi-thread runtime.
    MultiThread,
}

impl Layout {
    /// `APISIX_GATEWAY_RUNTIME=percore` selects [`Layout::PerCore`]; anything else (or
    /// unset) [`Layout::MultiThread`].
    pub fn from_env() -> Layout {
        match std::env::var("APISIX_GATEWAY_RUNTIME").as_deref() {
            Ok("percore") => Layout::PerCore,
            _ => Layout::MultiThread,
        }
    }
}

/// The per-core data-plane workers, set once at start; unset in the multi-thread layout
/// (and in tests), where listeners run on the current runtime.
static WORKERS: OnceLock<Vec<Handle>> = OnceLock::new();

/// The data-plane worker runtimes, if the per-core layout is running.
pub fn workers() -> Option<&'static [Handle]> {
    WORKERS.get().map(Vec::as_slice)
}

/// Builds the runtime the server runs on for `layout` with `workers` data-plane workers; in
/// the per-core layout also starts the worker threads (they live as long as the process).
pub fn build(layout: Layout, workers: usize) -> io::Result<Runtime> {
    let workers = workers.max(1);
    match layout {
        Layout::MultiThread => Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
        Layout::PerCore => {
            let mut handles = Vec::with_capacity(workers);
            for i in 0..workers {
                let runtime = Builder::new_current_thread().enable_all().build()?;
                handles.push(runtime.handle().clone());
                std::thread::Builder::new()
                    .name(format!("apisix-worker-{i}"))
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            }
            if WORKERS.set(handles).is_err() {
                return Err(io::Error::other("runtime workers already started"));
            }
            Builder::new_current_thread().enable_all().build()
        }
    }
}

/// Runs the accept loop of `listener` (bound to `local`) on every worker, each worker on its
/// own `SO_REUSEPORT` socket; resolves when all loops ended (after `stop`).
pub async fn accept_on_workers(
    workers: &'static [Handle],
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
        tasks.push(on_worker(handle, async move {
            match tokio::net::TcpListener::from_std(socket) {
                Ok(listener) => tcp::accept_loop_on(listener, ctx, stop, listen).await,
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
    workers: &'static [Handle],
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
