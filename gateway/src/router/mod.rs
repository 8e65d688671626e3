//! Stream route matching (REFERENCE.md §5): SNI routes first (exact, then the longest
//! wildcard suffix, then `*`), then routes without SNI in creation order; a route matches when
//! every condition it sets (`remote_addr`, `server_addr`, `server_port`) holds.
//!
//! Built once per snapshot; [`RouteTable::find`] is lock-free and allocation-free on the hot
//! path. [`RouteTable::explain`] gives the reason each route did or did not match (`/v1/match`),
//! and [`RouteTable::shadowed`] the routes that can never match (`model::shadow`, worked out
//! on first use and kept with the table).
//!
//! Layout: a route's conditions are `model::route_match::RouteConditions` (the types the
//! shadow analysis reads); `condition` checks and explains the address conditions, `sni`
//! indexes SNI patterns. Routes without SNI are bucketed by `server_port` (plus one list for routes
//! without a port) and the two candidate lists are merged in load order, so a lookup only
//! visits the routes that could match the connection's port.

mod condition;
mod sni;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use model::route_match::RouteConditions;

use crate::conn::{ConnInfo, Transport};
use crate::route::ResolvedRoute;
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

/// One route with its compiled conditions (`cond.snis` is empty for routes without SNI).
#[derive(Debug)]
struct Entry {
    route: Arc<ResolvedRoute>,
    cond: RouteConditions,
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
    /// Shadowed route id → the routes that take its connections, once asked for.
    shadowed: OnceLock<HashMap<String, Vec<String>>>,
}

impl RouteTable {
    /// Builds the table from routes in creation order. xRPC subordinate routes are left out.
    pub fn new(routes: Vec<Arc<ResolvedRoute>>) -> Self {
        let mut table = RouteTable::default();
        for route in routes {
            let cond = RouteConditions::of(&route.route);
            if cond.subordinate {
                continue;
            }
            let pos = u32::try_from(table.entries.len()).expect("fewer than 2^32 routes");
            if cond.snis.is_empty() {
                match cond.server_port {
                    Some(port) => table.by_port.entry(port).or_default().push(pos),
                    None => table.any_port.push(pos),
                }
            } else {
                for pattern in &cond.snis {
                    table.sni.insert(pattern, pos);
                }
            }
            table.entries.push(Entry { cond, route });
        }
        table
    }

    /// The routes that can never match, each with the earlier routes that take all its
    /// connections (`model::shadow`, in this table's order). Worked out on the first call.
    pub fn shadowed(&self) -> &HashMap<String, Vec<String>> {
        self.shadowed.get_or_init(|| {
            let routes = self.entries.iter().map(|e| (e.route.id.as_str(), &e.cond));
            model::shadow::shadowed(routes)
                .into_iter()
                .map(|s| (s.id, s.by))
                .collect()
        })
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
                            .find(|&pos| condition::matches(&self.entry(pos).cond, conn))
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
            condition::matches(&self.entry(pos).cond, conn)
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
                let failure = condition::failure(&entry.cond, conn);
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
            if !entry.cond.snis.is_empty() && !seen[pos] {
                out.push(RouteVerdict {
                    route_id: entry.route.id.clone(),
                    failed: Some(sni_failure(&entry.cond.snis, conn, name.as_deref())),
                });
            }
        }
        for (pos, entry) in self.entries.iter().enumerate() {
            if entry.cond.snis.is_empty() {
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
