//! Stream route matching (REFERENCE.md §5): SNI routes first (exact, then the longest
//! wildcard suffix, then `*`), then routes without SNI in creation order; a route matches when
//! every condition it sets (`remote_addr`, `server_addr`, `server_port`) holds.
//!
//! Built once per snapshot; [`RouteTable::find`] is lock-free and allocation-free on the hot
//! path. [`RouteTable::explain`] gives the reason each route did or did not match (`/v1/match`).
//!
//! Layout: `condition` compiles and checks the address conditions, `sni` indexes SNI
//! patterns. Routes without SNI are bucketed by `server_port` (plus one list for routes
//! without a port) and the two candidate lists are merged in load order, so a lookup only
//! visits the routes that could match the connection's port.

mod condition;
mod sni;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use crate::conn::{ConnInfo, Transport};
use crate::route::ResolvedRoute;
use condition::Conditions;
use sni::{SniIndex, SniPattern};

/// One route's verdict for `/v1/match`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteVerdict {
    pub route_id: String,
    /// `None` when it matched; otherwise the first failed condition, e.g.
    /// `server_port: 2000 does not equal 9100`.
    pub failed: Option<String>,
}

/// The verdict given to routes after the winner.
pub const NOT_REACHED: &str = "not reached: an earlier route matched";

/// Whether a stored route is an xRPC subordinate (`protocol.superior_id`): such routes never
/// match on entry.
pub fn is_subordinate(route: &model::types::StreamRoute) -> bool {
    route
        .protocol
        .as_ref()
        .and_then(|p| p.get("superior_id"))
        .is_some_and(|v| !v.is_null())
}

/// One route with its compiled conditions.
#[derive(Debug)]
struct Entry {
    route: Arc<ResolvedRoute>,
    cond: Conditions,
    /// Empty for routes without `sni`/`snis`.
    snis: Vec<SniPattern>,
}

/// The compiled routes of one snapshot.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// In load order; positions below index into this.
    entries: Vec<Entry>,
    sni: SniIndex,
    /// Routes without SNI that set `server_port`, by port.
    by_port: HashMap<u16, Vec<u32>>,
    /// Routes without SNI and without `server_port`.
    any_port: Vec<u32>,
}

impl RouteTable {
    /// Builds the table from routes in creation order. xRPC subordinate routes are left out.
    pub fn new(routes: Vec<Arc<ResolvedRoute>>) -> Self {
        let mut table = RouteTable::default();
        for route in routes {
            if is_subordinate(&route.route) {
                continue;
            }
            let pos = u32::try_from(table.entries.len()).expect("fewer than 2^32 routes");
            let snis = sni_patterns(&route.route);
            if snis.is_empty() {
                match route.route.server_port {
                    Some(port) => table.by_port.entry(port).or_default().push(pos),
                    None => table.any_port.push(pos),
                }
            } else {
                for pattern in &snis {
                    table.sni.insert(pattern, pos);
                }
            }
            table.entries.push(Entry {
                cond: Conditions::of(&route.route),
                route,
                snis,
            });
        }
        table
    }

    /// The route that takes `conn`, if any.
    pub fn find(&self, conn: &ConnInfo) -> Option<&Arc<ResolvedRoute>> {
        if let Some(name) = conn.sni.as_deref() {
            if conn.transport == Transport::Tcp && !self.sni.is_empty() {
                let mut buf = [0u8; sni::MAX_NAME];
                if let Some(name) = sni::normalize(name, &mut buf) {
                    let found = self.sni.visit(name, |list| {
                        list.iter()
                            .copied()
                            .find(|&pos| self.entry(pos).cond.matches(conn))
                    });
                    if let Some(pos) = found {
                        return Some(&self.entry(pos).route);
                    }
                }
            }
        }
        let ported = self
            .by_port
            .get(&conn.local.port())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        first_in_order(ported, &self.any_port, |pos| {
            self.entry(pos).cond.matches(conn)
        })
        .map(|pos| &self.entry(pos).route)
    }

    /// Every route's verdict for `conn`, in evaluation order; the first `failed: None` wins.
    ///
    /// Order: SNI routes whose pattern matches (most specific first), then the other SNI routes
    /// (failed on `sni`), then the routes without SNI in load order.
    pub fn explain(&self, conn: &ConnInfo) -> Vec<RouteVerdict> {
        let mut out = Vec::with_capacity(self.entries.len());
        let mut seen = vec![false; self.entries.len()];
        let mut matched = false;
        let name = conn
            .sni
            .as_deref()
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase())
            .filter(|s| s.len() <= sni::MAX_NAME);
        let mut judge = |pos: u32, out: &mut Vec<RouteVerdict>| {
            let entry = self.entry(pos);
            let failed = if matched {
                Some(NOT_REACHED.to_owned())
            } else {
                let failure = entry.cond.failure(conn);
                matched = failure.is_none();
                failure
            };
            out.push(RouteVerdict {
                route_id: entry.route.id.clone(),
                failed,
            });
        };
        if let (Some(name), Transport::Tcp) = (name.as_deref(), conn.transport) {
            self.sni.visit(name, |list| {
                for &pos in list {
                    if !std::mem::replace(&mut seen[pos as usize], true) {
                        judge(pos, &mut out);
                    }
                }
                None::<()>
            });
        }
        for (pos, entry) in self.entries.iter().enumerate() {
            if !entry.snis.is_empty() && !seen[pos] {
                out.push(RouteVerdict {
                    route_id: entry.route.id.clone(),
                    failed: Some(sni_failure(&entry.snis, conn, name.as_deref())),
                });
            }
        }
        for (pos, entry) in self.entries.iter().enumerate() {
            if entry.snis.is_empty() {
                judge(pos as u32, &mut out);
            }
        }
        out
    }

    /// Whether any route has `sni`/`snis` (a TLS or SNI-preread listener can skip SNI work
    /// when none does).
    pub fn has_sni_routes(&self) -> bool {
        !self.sni.is_empty()
    }

    /// The routes in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ResolvedRoute>> + '_ {
        self.entries.iter().map(|e| &e.route)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&self, pos: u32) -> &Entry {
        &self.entries[pos as usize]
    }
}

/// The `sni` and `snis` values of a route, compiled and deduplicated.
fn sni_patterns(route: &model::types::StreamRoute) -> Vec<SniPattern> {
    let mut out: Vec<SniPattern> = Vec::new();
    let values = route.sni.iter().chain(route.snis.iter().flatten());
    for value in values {
        let pattern = SniPattern::parse(value);
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    out
}

/// Why an SNI route was not a candidate for `conn`.
fn sni_failure(snis: &[SniPattern], conn: &ConnInfo, name: Option<&str>) -> String {
    if conn.transport == Transport::Udp {
        return "sni: sni routes never match udp".to_owned();
    }
    let Some(name) = name else {
        return match &conn.sni {
            Some(_) => "sni: the connection's SNI is too long to be a host name".to_owned(),
            None => "sni: connection has no SNI".to_owned(),
        };
    };
    match snis {
        [one] => format!("sni: {name} does not match {one}"),
        many => {
            let list: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("sni: {name} does not match any of {}", list.join(", "))
        }
    }
}

/// The first position, in ascending order over both sorted lists, that satisfies `accept`.
fn first_in_order(a: &[u32], b: &[u32], mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
    let (mut i, mut j) = (0, 0);
    loop {
        let pos = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => return None,
        };
        if accept(pos) {
            return Some(pos);
        }
    }
}
