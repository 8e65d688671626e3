//! The Control API's JSON contract (docs/control-api.md) as serde types: the gateway builds
//! and serializes them, `model::client::ControlClient` returns them, and `apisixctl` and
//! `apisix-tui` read their fields. A field renamed on one side fails to compile on the other.
//!
//! Layout:
//! - [`status`]: `GET /v1/status` ([`Status`], [`Listener`]).
//! - [`route`]: `GET /v1/stream_routes[/{id}]` ([`RouteInfo`] with its upstream and live stats).
//! - [`connection`]: `GET /v1/connections` ([`Connection`]), `DELETE /v1/connections/{id}`
//!   ([`Killed`]).
//! - [`matching`]: `GET /v1/match` ([`MatchReport`]).
//! - [`health`]: `GET /v1/healthcheck[/{type}/{id}]` ([`Checker`]).
//! - [`upstream`]: `GET /v1/upstreams`, `GET /v1/upstream/{id}` ([`UpstreamEntry`] with the
//!   [`DnsName`] of each node host name).
//!
//! Reading is tolerant, writing is exact. Every struct is `#[serde(default)]` and none denies
//! unknown fields, so a newer gateway that adds a field (the documented way the contract
//! grows) or an older one that lacks one still parses in the CLI and the dashboard. The
//! gateway always fills every field, and its test `control_contract` checks that each
//! endpoint's body survives `Value → type → Value` unchanged: a field the gateway sends that
//! a type lacks, or the reverse, fails there.

pub mod connection;
pub mod health;
pub mod matching;
pub mod route;
pub mod status;
pub mod upstream;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use connection::{Connection, Killed};
pub use health::{CheckedNode, Checker, HealthCounter};
pub use matching::{MatchInput, MatchReport, RouteVerdict};
pub use route::{NodeInfo, Rejected, RouteInfo, RouteMatch, RouteStats, RouteUpstream, Throughput};
pub use status::{Listener, SessionLimit, Status};
pub use upstream::{DnsName, UpstreamEntry};

/// `{"list": [...], "total": N}`: the answer of `/v1/stream_routes` and `/v1/connections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlList<T> {
    /// The items.
    pub list: Vec<T>,
    /// Their count.
    pub total: usize,
}

impl<T> ControlList<T> {
    /// A list of `items` with its `total`.
    pub fn new(list: Vec<T>) -> Self {
        let total = list.len();
        ControlList { list, total }
    }
}

impl<T> Default for ControlList<T> {
    fn default() -> Self {
        ControlList::new(Vec::new())
    }
}

/// An id that may arrive as a string or a number; anything else reads as empty.
fn id_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_id(d)?.unwrap_or_default())
}

/// An optional id that may arrive as a string or a number.
fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(crate::types::id_string))
}
