//! Passive health checks (`checks.passive`) as a session sink: a relayed TCP session that ended
//! with an nginx stream status other than 200 is a passive failure of its node, on the upstream
//! the session actually used (the route's, or the one traffic-split chose), like APISIX's
//! stream `healthcheck_passive` in the log phase. The thresholds and the node state machine
//! are the upstream's ([`UpstreamRuntime::report_session_end`](crate::balancer::UpstreamRuntime::report_session_end)).

use crate::session::{SessionRecord, SessionSink};

/// Reports each finished session's outcome to the health of the node it used.
#[derive(Debug, Default)]
pub struct PassiveHealth;

impl SessionSink for PassiveHealth {
    fn finish(&self, record: &SessionRecord) {
        if let (Some(upstream), Some(node)) = (&record.upstream, record.node) {
            upstream.report_session_end(node, record.status);
        }
    }

    /// Node health steers balancing: it runs even when live stats are off.
    fn essential(&self) -> bool {
        true
    }
}
