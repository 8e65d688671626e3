//! What a stream route matches, as the router reads it (REFERENCE.md §5): the address
//! conditions (`remote_addr`, `server_addr` as [`AddrRule`]s), `server_port`, the SNI patterns
//! (`sni` and `snis` as [`SniPattern`]s), and whether the route is an xRPC subordinate
//! (`protocol.superior_id`), which the router leaves out. The gateway's router compiles its
//! table from these types, and [`crate::shadow`] compares routes with them, so both read a
//! route the same way.
//!
//! - [`addr`]: [`AddrRule`], matching and containment of address conditions.
//! - [`sni`]: the [`SniPattern`] type.

pub mod addr;
pub mod sni;

pub use addr::AddrRule;
pub use sni::SniPattern;

use serde_json::Value;

use crate::types::StreamRoute;

/// Whether a stored route is an xRPC subordinate (`protocol.superior_id` set): such routes
/// never match on entry.
pub fn is_subordinate(route: &StreamRoute) -> bool {
    route
        .protocol
        .as_ref()
        .and_then(|p| p.get("superior_id"))
        .is_some_and(|v| !v.is_null())
}

/// The `sni` and `snis` values of a route, compiled and deduplicated.
pub fn sni_patterns(route: &StreamRoute) -> Vec<SniPattern> {
    let mut out: Vec<SniPattern> = Vec::new();
    for value in route.sni.iter().chain(route.snis.iter().flatten()) {
        let pattern = SniPattern::parse(value);
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    out
}

/// Everything the router matches a route on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteConditions {
    /// `remote_addr`; `None` takes any client.
    pub remote_addr: Option<AddrRule>,
    /// `server_addr`; `None` takes any local address.
    pub server_addr: Option<AddrRule>,
    /// `server_port`; `None` takes any port.
    pub server_port: Option<u16>,
    /// `sni` and `snis`; empty for a route without SNI.
    pub snis: Vec<SniPattern>,
    /// An xRPC subordinate, never matched on entry.
    pub subordinate: bool,
}

impl RouteConditions {
    /// The conditions of a stored route.
    pub fn of(route: &StreamRoute) -> RouteConditions {
        RouteConditions {
            remote_addr: route.remote_addr.as_deref().map(AddrRule::parse),
            server_addr: route.server_addr.as_deref().map(AddrRule::parse),
            server_port: route.server_port,
            snis: sni_patterns(route),
            subordinate: is_subordinate(route),
        }
    }

    /// The conditions of a stored route given as JSON (an Admin API value, a file object);
    /// `None` when it does not read as a stream route.
    pub fn of_value(value: &Value) -> Option<RouteConditions> {
        crate::types::from_stored::<StreamRoute>(value)
            .ok()
            .map(|r| RouteConditions::of(&r))
    }
}
