//! The [`SessionPipeline`]: the per-route live stats and the sinks every finished session
//! goes through, in the order they were registered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::routestats::RouteStatsMap;
use super::{SessionRecord, SessionSink};

/// Shared by every listener: route stats (always a sink, and read live by the Control API)
/// and the sinks registered at start-up.
#[derive(Debug, Default)]
pub struct SessionPipeline {
    /// Per-route live stats: opened by the data path at routing, closed by their sink.
    pub routes: Arc<RouteStatsMap>,
    sinks: Vec<Arc<dyn SessionSink>>,
    finished: AtomicU64,
    /// Live stats off (benchmarks only, see [`SessionPipeline::without_live_stats`]).
    stats_off: bool,
}

impl SessionPipeline {
    /// A pipeline feeding the route stats only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also hands every record to `sink`, after the sinks registered before it.
    pub fn with_sink(mut self, sink: Arc<dyn SessionSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Feeds only essential sinks (passive health): no route stats, metrics or access log;
    /// sessions are counted. For
    /// `make bench`'s measurement of what live stats cost (`apisix.data_plane.live_stats:
    /// false`); the connection registry stays on, since kill and graceful drain depend on it.
    pub fn without_live_stats(mut self) -> Self {
        self.stats_off = true;
        self
    }

    /// Whether live stats are off (the data path then skips route stats too).
    pub fn live_stats_off(&self) -> bool {
        self.stats_off
    }

    /// Takes one finished session.
    pub fn finish(&self, record: &SessionRecord) {
        if !self.stats_off {
            self.routes.finish(record);
        }
        for sink in &self.sinks {
            if !self.stats_off || sink.essential() {
                sink.finish(record);
            }
        }
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Sessions reported so far (routed or not).
    pub fn sessions_finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    /// Starts the 1 s ticker that advances every route's throughput ring; ends with `stop`.
    pub fn spawn_ticker(self: &Arc<Self>, stop: CancellationToken) -> JoinHandle<()> {
        let routes = self.routes.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => routes.tick(),
                }
            }
        })
    }
}
