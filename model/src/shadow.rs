//! Shadowed stream routes: a route that can never take a connection, because routes the
//! router tries before it (REFERENCE.md §5) take every connection it would take. The gateway
//! (`/v1/match`, `/v1/stream_routes`), `apisixctl` (`validate`, `apply`,
//! `stream-route list -o wide`) and the dashboard's routes view all ask [`shadowed`].
//!
//! The router's order: routes with an SNI are tried first, pattern by pattern (exact, then the
//! longest wildcard suffix, then `*`), in load order within one pattern; then the routes
//! without SNI in load order. Load order is creation order (`create_revision`, then id); a
//! standalone file loaded at once has one revision, so its routes go by id.
//!
//! Route B is shadowed when:
//! - B has no SNI and an earlier route A without SNI takes all of B's connections: A's
//!   `server_port` is unset or equal to B's, and A's `remote_addr` / `server_addr` networks
//!   contain B's (unset takes every address). An SNI route never shadows a route without
//!   SNI (UDP and plain TCP never reach SNI routes), nor the reverse.
//! - B has SNI patterns and each of them is also a pattern of some earlier route A that takes
//!   all of B's addresses and ports as above: within one pattern the earlier route is tried
//!   first, and a different pattern covering B's names is always less specific, so it is tried
//!   after B's.
//!
//! The analysis is conservative: it flags a route only when the rules above prove it (an
//! unknown or invalid condition makes it answer "not shadowed"), and xRPC subordinate routes,
//! which the router leaves out, neither shadow nor are shadowed. Earlier routes are found
//! through an index by (pattern, port, one network of the remote address), looked up with the
//! supernets of B's remote network, so ten thousand routes on one port that differ by client
//! address stay cheap.

use std::collections::HashMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::Value;

use crate::route_match::addr::AddrSet;
use crate::route_match::{RouteConditions, SniPattern};

/// A route that never takes a connection, and the earlier routes that take them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The shadowed route.
    pub id: String,
    /// The routes that take its connections, in load order (one per SNI pattern at most).
    pub by: Vec<String>,
}

impl Shadowed {
    /// `shadowed by stream_route 1` / `shadowed by stream_routes 1, 3`.
    pub fn describe(&self) -> String {
        describe(&self.by)
    }
}

/// `shadowed by stream_route 1` / `shadowed by stream_routes 1, 3`.
pub fn describe(by: &[String]) -> String {
    match by {
        [one] => format!("shadowed by stream_route {one}"),
        many => format!("shadowed by stream_routes {}", many.join(", ")),
    }
}

/// Whether `earlier` takes every connection that `later` takes under its SNI `pattern`
/// (`None`: `later` has no SNI), when `earlier` is tried first.
pub fn takes_all(
    earlier: &RouteConditions,
    later: &RouteConditions,
    pattern: Option<&SniPattern>,
) -> bool {
    let sni_ok = match pattern {
        None => earlier.snis.is_empty(),
        Some(p) => earlier.snis.contains(p),
    };
    sni_ok
        && !earlier.subordinate
        && earlier
            .server_port
            .is_none_or(|p| Some(p) == later.server_port)
        && AddrSet::of(earlier.remote_addr.as_ref())
            .contains(&AddrSet::of(later.remote_addr.as_ref()))
        && AddrSet::of(earlier.server_addr.as_ref())
            .contains(&AddrSet::of(later.server_addr.as_ref()))
}

/// The shadowed routes among `routes`, given in load order as `(id, conditions)`.
pub fn shadowed<'a, I>(routes: I) -> Vec<Shadowed>
where
    I: IntoIterator<Item = (&'a str, &'a RouteConditions)>,
{
    let routes: Vec<(&str, Compiled)> = routes
        .into_iter()
        .map(|(id, c)| (id, Compiled::of(c)))
        .collect();
    let mut index = Index::default();
    let mut out = Vec::new();
    for (pos, (id, route)) in routes.iter().enumerate() {
        if route.matches_something() {
            if let Some(by) = index.shadowers(route, &routes) {
                let by = by.into_iter().map(|p| routes[p].0.to_owned()).collect();
                out.push(Shadowed {
                    id: (*id).to_owned(),
                    by,
                });
            }
            index.insert(pos, route);
        }
    }
    out
}

/// [`shadowed`] over stored stream routes given as `(id, value, create_revision)`, in any
/// order: they are put in load order first (`create_revision`, then id, as the gateway's
/// snapshot does; give one revision to every route of a standalone file). A value that does
/// not read as a stream route is left out.
pub fn shadowed_stored<'a, I>(routes: I) -> Vec<Shadowed>
where
    I: IntoIterator<Item = (&'a str, &'a Value, i64)>,
{
    let mut routes: Vec<(i64, &str, RouteConditions)> = routes
        .into_iter()
        .filter_map(|(id, value, revision)| Some((revision, id, RouteConditions::of_value(value)?)))
        .collect();
    routes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    shadowed(routes.iter().map(|(_, id, c)| (*id, c)))
}

/// One route, ready to compare.
struct Compiled<'a> {
    conditions: &'a RouteConditions,
    remote: AddrSet,
    server: AddrSet,
}

impl<'a> Compiled<'a> {
    fn of(conditions: &'a RouteConditions) -> Self {
        Compiled {
            remote: AddrSet::of(conditions.remote_addr.as_ref()),
            server: AddrSet::of(conditions.server_addr.as_ref()),
            conditions,
        }
    }

    /// Whether the router can ever choose it (not a subordinate, no invalid address rule).
    fn matches_something(&self) -> bool {
        !self.conditions.subordinate && !self.remote.is_empty() && !self.server.is_empty()
    }

    /// Its SNI patterns, or the one "no SNI" slot.
    fn slots(&self) -> Vec<Option<&'a SniPattern>> {
        if self.conditions.snis.is_empty() {
            vec![None]
        } else {
            self.conditions.snis.iter().map(Some).collect()
        }
    }

    /// Whether this (earlier) route's ports and addresses take all of `later`'s.
    fn takes_addresses_of(&self, later: &Compiled<'_>) -> bool {
        self.conditions
            .server_port
            .is_none_or(|p| Some(p) == later.conditions.server_port)
            && self.remote.contains(&later.remote)
            && self.server.contains(&later.server)
    }
}

/// One network of a route's remote address set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NetKey {
    V4(Ipv4Net),
    V6(Ipv6Net),
}

/// The networks a route is filed under: each part of its remote set.
fn own_keys(set: &AddrSet) -> Vec<NetKey> {
    let v4 = set.v4.map(|n| NetKey::V4(n.trunc()));
    let v6 = set.v6.map(|n| NetKey::V6(n.trunc()));
    v4.into_iter().chain(v6).collect()
}

/// The keys an earlier route that contains `set` is filed under, among others: the supernets
/// of its IPv4 part (such a route must contain it), else of its IPv6 part.
fn supernet_keys(set: &AddrSet) -> Vec<NetKey> {
    match (set.v4, set.v6) {
        (Some(n), _) => (0..=n.prefix_len())
            .filter_map(|p| Ipv4Net::new(n.network(), p).ok())
            .map(|s| NetKey::V4(s.trunc()))
            .collect(),
        (None, Some(n)) => (0..=n.prefix_len())
            .filter_map(|p| Ipv6Net::new(n.network(), p).ok())
            .map(|s| NetKey::V6(s.trunc()))
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// Earlier routes by (SNI pattern, port, remote network), each list in load order.
#[derive(Default)]
struct Index {
    patterns: HashMap<SniPattern, u32>,
    lists: HashMap<(Option<u32>, Option<u16>, NetKey), Vec<usize>>,
}

impl Index {
    fn pattern_id(&mut self, pattern: Option<&SniPattern>) -> Option<u32> {
        let pattern = pattern?;
        let next = u32::try_from(self.patterns.len()).unwrap_or(u32::MAX);
        Some(*self.patterns.entry(pattern.clone()).or_insert(next))
    }

    fn insert(&mut self, pos: usize, route: &Compiled<'_>) {
        for slot in route.slots() {
            let pattern = self.pattern_id(slot);
            for key in own_keys(&route.remote) {
                let list = self
                    .lists
                    .entry((pattern, route.conditions.server_port, key))
                    .or_default();
                if list.last() != Some(&pos) {
                    list.push(pos);
                }
            }
        }
    }

    /// The earliest route that takes each of `route`'s slots; `None` unless every slot has one.
    fn shadowers(&self, route: &Compiled<'_>, all: &[(&str, Compiled<'_>)]) -> Option<Vec<usize>> {
        let ports = [None, route.conditions.server_port];
        let ports = if ports[1].is_some() {
            &ports[..]
        } else {
            &ports[..1]
        };
        let keys = supernet_keys(&route.remote);
        let mut by: Vec<usize> = Vec::new();
        for slot in route.slots() {
            let pattern = match slot {
                None => None,
                Some(p) => Some(*self.patterns.get(p)?),
            };
            let earliest = ports
                .iter()
                .flat_map(|port| keys.iter().map(move |key| (pattern, *port, *key)))
                .filter_map(|k| self.lists.get(&k))
                .filter_map(|list| {
                    list.iter()
                        .copied()
                        .find(|&a| all[a].1.takes_addresses_of(route))
                })
                .min()?;
            if !by.contains(&earliest) {
                by.push(earliest);
            }
        }
        by.sort_unstable();
        Some(by)
    }
}

#[cfg(test)]
mod tests;
