//! The running configuration: the store's watch → compiled immutable [`Snapshot`] → swapped
//! into a [`SharedSnapshot`] (`ArcSwap`). New connections load it once at accept; nothing on
//! the data path takes a lock. A stored object that fails `model` validation is logged and
//! skipped.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::balancer::UpstreamRuntime;
use crate::router::RouteTable;

/// A stream route with its service merged and its upstream resolved.
#[derive(Debug)]
pub struct ResolvedRoute {
    pub id: String,
    pub name: Option<String>,
    /// The route as stored (after validation).
    pub route: model::types::StreamRoute,
    /// `None`: no upstream in route or service (connections are closed, reason logged).
    pub upstream: Option<Arc<UpstreamRuntime>>,
    /// Route plugins over service plugins.
    pub plugins: BTreeMap<String, Value>,
}

/// One immutable view of the configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store revision this was built from.
    pub revision: i64,
    pub routes: RouteTable,
    /// Upstream objects by id.
    pub upstreams: BTreeMap<String, Arc<UpstreamRuntime>>,
}

/// The current snapshot, shared by listeners, Admin and Control APIs.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;
