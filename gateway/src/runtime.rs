//! The runtime layout (`apisix.worker_processes`): which tokio runtimes run the data plane.
//!
//! Two layouts, chosen at start (`apisix.data_plane.runtime`, or `APISIX_GATEWAY_RUNTIME`
//! when benchmarking; read once by [`crate::config`]):
//! - [`RuntimeLayout::MultiThread`] (default): everything on one tokio multi-thread runtime with
//!   `worker_processes` worker threads. Kept because `make bench` (pinned, one worker) measured
//!   it as fast or faster on most figures (README, Benchmark: runtime layout).
//! - [`RuntimeLayout::PerCore`] (`runtime: percore`): one `current_thread` runtime per
//!   worker, each on its own thread. Every TCP listen address gets one `SO_REUSEPORT` socket per worker, accepted
//!   connections stay on the worker that accepted them (its pipe pool and scratch buffer are
//!   thread-local), UDP listeners run on worker 0. The control plane (Admin API, store watch,
//!   health checks, Control API) runs on a separate small `current_thread` runtime.
//!
//! The accept loops on the workers live in [`crate::proxy::workers`].
//!
//! `make bench` compares both (`BENCH_RUNTIME=multi|percore`); see the README's Benchmark section.

use std::io;
use std::sync::Arc;

use tokio::runtime::{Builder, Handle, Runtime};

/// How the data plane is laid out on threads (`apisix.data_plane.runtime`).
pub use crate::config::RuntimeLayout;

/// The per-core data-plane workers, handed to the listeners; none in the multi-thread layout
/// (and in tests), where listeners run on the current runtime.
#[derive(Debug, Clone, Default)]
pub struct Workers(Option<Arc<[Handle]>>);

impl Workers {
    /// The worker runtimes, if the per-core layout is running.
    pub fn handles(&self) -> Option<&[Handle]> {
        self.0.as_deref()
    }
}

/// Builds the runtime the server runs on for `layout` with `workers` data-plane workers; in
/// the per-core layout also starts the worker threads (they live as long as the process) and
/// returns their handles.
pub fn build(layout: RuntimeLayout, workers: usize) -> io::Result<(Runtime, Workers)> {
    let workers = workers.max(1);
    match layout {
        RuntimeLayout::MultiThread => {
            let runtime = Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?;
            Ok((runtime, Workers::default()))
        }
        RuntimeLayout::PerCore => {
            let mut handles = Vec::with_capacity(workers);
            for i in 0..workers {
                let runtime = Builder::new_current_thread().enable_all().build()?;
                handles.push(runtime.handle().clone());
                std::thread::Builder::new()
                    .name(format!("apisix-worker-{i}"))
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            }
            let runtime = Builder::new_current_thread().enable_all().build()?;
            Ok((runtime, Workers(Some(handles.into()))))
        }
    }
}
