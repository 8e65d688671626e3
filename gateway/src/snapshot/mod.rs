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
use crate::plugins::PluginState;
use crate::route::ResolvedRoute;
use crate::router::RouteTable;
use crate::tls::certs::CertIndex;

pub use compile::{compile, compile_with, CompileOptions};
pub use watcher::{run_watcher, run_watcher_with, SnapshotWatcher};

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
    /// The SSL objects' certificates by SNI, built with the snapshot (reused from the previous
    /// one while its SSL objects are unchanged), so no handshake ever builds one.
    pub cert_index: Arc<CertIndex>,
    /// Plugin metadata by plugin name.
    pub plugin_metadata: Arc<BTreeMap<String, Value>>,
    /// What stream plugins keep across snapshots (limit-conn counters, syslog senders),
    /// carried from one snapshot to the next.
    pub plugin_state: Arc<PluginState>,
    /// The DNS client of the node names (its failure counts are exported as metrics).
    pub dns: crate::dns::Dns,
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
