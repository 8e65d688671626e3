//! Passive health from finished sessions, APISIX's stream log phase `healthcheck_passive`:
//! when the route's upstream has `checks.passive`, a session that reached a node and ended
//! with any status but 200 (idle timeout, reset, ...) is a passive TCP failure of that node.
//! Failed connects are reported by the balancer as they happen
//! ([`crate::balancer::UpstreamRuntime::report_connect`]), so a session that never reached a
//! node is not counted again here. Sessions whose upstream came from traffic-split are not
//! matched (their node is not in the route's upstream).

use crate::observe::SessionRecord;
use crate::snapshot::Snapshot;

/// Reports `record` to its route's upstream; `true` when a failure was counted.
pub fn session_finished(snapshot: &Snapshot, record: &SessionRecord) -> bool {
    if record.status == 200 {
        return false;
    }
    let (Some(route_id), Some(node)) = (record.route_id.as_deref(), record.node) else {
        return false;
    };
    snapshot
        .route_map
        .get(route_id)
        .and_then(|route| route.upstream.as_ref())
        .is_some_and(|up| up.report_session_end(node, record.status))
}
