//! Where finished sessions go: a [`SessionSink`] receives every [`SessionRecord`] once.
//!
//! Sinks are registered at start-up in the composition root (`server/`): the per-route live
//! stats, the Prometheus counters, the access log and passive health checks. A stream plugin's log phase
//! (`syslog`) runs from the route's compiled plugin chain instead, with the configuration the
//! session was routed with. Adding a sink is one `impl SessionSink` and one
//! [`SessionPipeline::with_sink`](super::SessionPipeline::with_sink) line.

use super::SessionRecord;

/// Takes each finished session. Called on the data path as the session ends: never block,
/// never wait (hand the record to a queue or bump counters).
pub trait SessionSink: Send + Sync + std::fmt::Debug {
    /// One finished session (routed or not).
    fn finish(&self, record: &SessionRecord);

    /// Whether the data path relies on it (passive health): such a sink runs even when live
    /// stats are off.
    fn essential(&self) -> bool {
        false
    }
}
