//! The stream plugins this gateway runs, by name. Adding a plugin is one new file holding its
//! [`StreamPlugin`] and a `build` function, plus one line in [`PLUGINS`] (and its schema and
//! priority in `model::plugins`, which the Admin API validates with). See `docs/plugins.md`.

use std::sync::Arc;

use serde_json::Value;

use super::{ip_restriction, limit_conn, mqtt, syslog, traffic_split};
use super::{ChainContext, StreamPlugin};

/// Compiles one validated conf for the route in the context; `None` skips it (logged by the
/// plugin).
pub type Build = fn(&Value, &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>>;

/// Every plugin with runtime work. `prometheus` has none here: its `prefer_name` is read when
/// the route is compiled (the metrics `route` label).
pub const PLUGINS: &[(&str, Build)] = &[
    ("ip-restriction", ip_restriction::build),
    ("limit-conn", limit_conn::build),
    ("mqtt-proxy", mqtt::build),
    ("traffic-split", traffic_split::build),
    ("syslog", syslog::build),
];

/// The builder of plugin `name`.
pub fn find(name: &str) -> Option<Build> {
    PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
