//! The running configuration: the store's watch → compiled immutable [`Snapshot`] → swapped
//! into a [`SharedSnapshot`] (`ArcSwap`). New connections load it once at accept; nothing on
//! the data path takes a lock. A stored object that fails `model` validation is logged and
//! skipped.
//!
//! Layout: [`compile()`] turns the store's items into a [`Snapshot`] (validation, service merge,
//! upstream resolution, balancer state carried over from the previous snapshot);
//! [`run_watcher`] / [`SnapshotWatcher`] follow the store's watch and swap new snapshots in.

mod compile;
#[cfg(test)]
mod tests;
mod watcher;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::balancer::UpstreamRuntime;
use crate::router::RouteTable;

pub use compile::{compile, compile_with, CompileOptions};
pub use watcher::{run_watcher, run_watcher_with, SnapshotWatcher};

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
}

/// What a session's log phase needs of the snapshot it was routed with: its route and the
/// plugin metadata, as that snapshot had them. It does not hold the snapshot itself, so a
/// long-lived connection keeps no old route table alive. Two are equal when they hold the
/// same objects (not merely equal contents).
#[derive(Clone, Default)]
pub struct SessionConfig {
    /// The session's route (`None` when it matched none).
    pub route: Option<Arc<ResolvedRoute>>,
    pub plugin_metadata: Arc<BTreeMap<String, Value>>,
}

impl SessionConfig {
    /// The route `route_id` (if any) and the plugin metadata of `snapshot`.
    pub fn of(snapshot: &Snapshot, route_id: Option<&str>) -> SessionConfig {
        SessionConfig {
            route: route_id.and_then(|id| snapshot.route_map.get(id).cloned()),
            plugin_metadata: snapshot.plugin_metadata.clone(),
        }
    }
}

impl PartialEq for SessionConfig {
    fn eq(&self, other: &Self) -> bool {
        let same_route = match (&self.route, &other.route) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_route && Arc::ptr_eq(&self.plugin_metadata, &other.plugin_metadata)
    }
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field(
                "route",
                &self.route.as_ref().map(|r| (&r.id, r.mod_revision)),
            )
            .finish_non_exhaustive()
    }
}

/// One immutable view of the configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store revision this was built from.
    pub revision: i64,
    pub routes: RouteTable,
    /// Upstream objects by id.
    pub upstreams: BTreeMap<String, Arc<UpstreamRuntime>>,
    /// Every stream route by id, including xRPC subordinates (which are not in `routes`).
    pub route_map: BTreeMap<String, Arc<ResolvedRoute>>,
    /// Every balancer runtime by its key (`upstreams/<id>`, `services/<id>`,
    /// `stream_routes/<id>`), so the next snapshot can keep their state.
    pub runtimes: BTreeMap<String, Arc<UpstreamRuntime>>,
    /// Service objects by id.
    pub services: BTreeMap<String, model::types::Service>,
    /// SSL objects by id.
    pub ssls: BTreeMap<String, model::types::Ssl>,
    /// Plugin metadata by plugin name.
    pub plugin_metadata: Arc<BTreeMap<String, Value>>,
}

impl Snapshot {
    /// The stream route with `id` (subordinate xRPC routes included).
    pub fn route(&self, id: &str) -> Option<&Arc<ResolvedRoute>> {
        self.route_map.get(id)
    }

    /// The upstream object with `id`.
    pub fn upstream(&self, id: &str) -> Option<&Arc<UpstreamRuntime>> {
        self.upstreams.get(id)
    }
}

/// The current snapshot, shared by listeners, Admin and Control APIs.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// A new shared holder with an empty snapshot.
pub fn shared_empty() -> SharedSnapshot {
    Arc::new(ArcSwap::from_pointee(Snapshot::default()))
}
