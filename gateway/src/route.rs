//! A stream route as the data path uses it ([`ResolvedRoute`]): the stored route with its
//! service merged, its upstream runtime resolved and its plugin chain compiled, all made once
//! per configuration snapshot. Routing hands connections one `Arc` of it; no later stage
//! looks anything up again.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::balancer::UpstreamRuntime;
use crate::plugins::Chain;

/// Why a route has no upstream: neither the route nor its service configures one.
pub const MISSING_UPSTREAM: &str = "missing upstream configuration in Route or Service";

/// A stream route with its service merged and its upstream resolved.
#[derive(Debug)]
pub struct ResolvedRoute {
    pub id: String,
    pub name: Option<String>,
    /// The route as stored (after validation).
    pub route: model::types::StreamRoute,
    /// `None`: no upstream in route or service (connections are closed, reason logged).
    pub upstream: Option<Arc<UpstreamRuntime>>,
    /// Why `upstream` is `None`, e.g. `failed to find upstream by id: 3` or
    /// [`MISSING_UPSTREAM`]; `None` when there is an upstream.
    pub upstream_error: Option<String>,
    /// Route plugins over service plugins.
    pub plugins: BTreeMap<String, Value>,
    /// Revision of the store write that created the route (load order).
    pub create_revision: i64,
    /// Revision of the last write to the route.
    pub mod_revision: i64,
    /// The `route` label of its metrics: its name when its `prometheus` plugin sets
    /// `prefer_name: true` and it has one, otherwise its id.
    pub metric_label: Arc<str>,
    /// Its stream plugins, compiled with the snapshot (enabled ones, highest priority first).
    pub chain: Arc<Chain>,
}

impl ResolvedRoute {
    /// The `route` label of metrics for a route `id` named `name` with `plugins`.
    pub fn metric_label_of(
        id: &str,
        name: Option<&str>,
        plugins: &BTreeMap<String, Value>,
    ) -> Arc<str> {
        let prefer_name = plugins
            .get("prometheus")
            .and_then(|conf| conf.get("prefer_name"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match name {
            Some(name) if prefer_name && !name.is_empty() => Arc::from(name),
            _ => Arc::from(id),
        }
    }
}
