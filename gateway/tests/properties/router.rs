//! The router against an oracle: random routes (`remote_addr`, `server_addr`, `server_port`,
//! `sni`) and random connections; [`RouteTable::find`] must choose the route the oracle
//! chooses, following REFERENCE.md §5: SNI routes first when the TCP connection has an SNI
//! (exact, then wildcards by longest suffix, then `*`; load order within one pattern; a
//! pattern whose routes all fail on addresses falls through to the next), then the routes
//! without SNI in load order. `explain` must name the same winner.
//!
//! The oracle is deliberately plain: linear scans, CIDR containment by masking integers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use apisix_gateway::conn::{ConnInfo, Transport};
use apisix_gateway::route::ResolvedRoute;
use apisix_gateway::router::RouteTable;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Small pools, so that conditions often hold and often fail.
const V4: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.1.1",
    "10.1.0.1",
    "192.168.1.1",
];
const V6: &[&str] = &["2001:db8::1", "2001:db8::2", "2001:db8:0:1::1", "fd00::1"];
const PORTS: &[u16] = &[9100, 9101, 9102];
const NAMES: &[&str] = &[
    "a.example.com",
    "b.example.com",
    "x.a.example.com",
    "example.com",
    "other.org",
];
const PATTERNS: &[&str] = &[
    "a.example.com",
    "b.example.com",
    "x.a.example.com",
    "other.org",
    "*.example.com",
    "*.a.example.com",
    "*.com",
    "*",
];

/// One address condition: an address or a network, as written in the route.
#[derive(Debug, Clone)]
struct AddrCond {
    ip: IpAddr,
    prefix: Option<u8>,
}

impl AddrCond {
    fn text(&self) -> String {
        match self.prefix {
            Some(p) => format!("{}/{p}", self.ip),
            None => self.ip.to_string(),
        }
    }

    /// Plain containment: same family, equal leading `prefix` bits.
    fn holds(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let (rule, width) = bits(self.ip);
        let (addr, addr_width) = bits(ip);
        if width != addr_width {
            return false;
        }
        let prefix = u32::from(self.prefix.unwrap_or(width as u8));
        if prefix == 0 {
            return true;
        }
        let shift = width - prefix;
        (rule >> shift) == (addr >> shift)
    }
}

#[derive(Debug, Clone)]
struct RouteSpec {
    remote_addr: Option<AddrCond>,
    server_addr: Option<AddrCond>,
    server_port: Option<u16>,
    sni: Option<&'static str>,
}

impl RouteSpec {
    fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(c) = &self.remote_addr {
            body.insert("remote_addr".into(), json!(c.text()));
        }
        if let Some(c) = &self.server_addr {
            body.insert("server_addr".into(), json!(c.text()));
        }
        if let Some(port) = self.server_port {
            body.insert("server_port".into(), json!(port));
        }
        if let Some(sni) = self.sni {
            body.insert("sni".into(), json!(sni));
        }
        Value::Object(body)
    }

    fn addresses_hold(&self, conn: &ConnInfo) -> bool {
        self.remote_addr
            .as_ref()
            .is_none_or(|c| c.holds(conn.remote.ip()))
            && self
                .server_addr
                .as_ref()
                .is_none_or(|c| c.holds(conn.local.ip()))
            && self.server_port.is_none_or(|p| p == conn.local.port())
    }
}

/// Whether `pattern` covers `name`, and how specific the match is (higher first).
fn pattern_rank(pattern: &str, name: &str) -> Option<usize> {
    if pattern == "*" {
        return Some(0);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return (name.len() > suffix.len() && name.ends_with(suffix)).then_some(suffix.len() + 1);
    }
    (pattern == name).then_some(usize::MAX)
}

/// REFERENCE.md §5, plainly.
fn oracle(routes: &[RouteSpec], conn: &ConnInfo) -> Option<usize> {
    let any_sni = routes.iter().any(|r| r.sni.is_some());
    if let (Some(sni), Transport::Tcp, true) = (&conn.sni, conn.transport, any_sni) {
        let name = sni.trim_end_matches('.').to_ascii_lowercase();
        // The distinct patterns that cover the name, most specific first.
        let mut patterns: Vec<(usize, &str)> = routes
            .iter()
            .filter_map(|r| r.sni)
            .filter_map(|p| pattern_rank(p, &name).map(|rank| (rank, p)))
            .collect();
        patterns.sort_by_key(|p| std::cmp::Reverse(p.0));
        patterns.dedup();
        for (_, pattern) in patterns {
            let found = routes
                .iter()
                .position(|r| r.sni == Some(pattern) && r.addresses_hold(conn));
            if found.is_some() {
                return found;
            }
        }
    }
    routes
        .iter()
        .position(|r| r.sni.is_none() && r.addresses_hold(conn))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        4 => proptest::sample::select(V4).prop_map(|s| s.parse::<IpAddr>().expect("pool address")),
        1 => proptest::sample::select(V6).prop_map(|s| s.parse::<IpAddr>().expect("pool address")),
    ]
}

fn addr_cond() -> impl Strategy<Value = AddrCond> {
    (ip(), any::<bool>(), 0usize..4).prop_map(|(ip, cidr, size)| {
        let prefix = cidr.then(|| match ip {
            IpAddr::V4(_) => [8u8, 16, 24, 32][size],
            IpAddr::V6(_) => [32u8, 48, 64, 128][size],
        });
        AddrCond { ip, prefix }
    })
}

fn route() -> impl Strategy<Value = RouteSpec> {
    (
        proptest::option::weighted(0.4, addr_cond()),
        proptest::option::weighted(0.3, addr_cond()),
        proptest::option::weighted(0.4, proptest::sample::select(PORTS)),
        proptest::option::weighted(0.4, proptest::sample::select(PATTERNS)),
    )
        .prop_map(|(remote_addr, server_addr, server_port, sni)| RouteSpec {
            remote_addr,
            server_addr,
            server_port,
            sni,
        })
}

/// A connection's SNI as a client may spell it (case, trailing dot), or none.
fn sni() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.6,
        (proptest::sample::select(NAMES), 0usize..3).prop_map(|(name, spelling)| match spelling {
            0 => name.to_owned(),
            1 => name.to_ascii_uppercase(),
            _ => format!("{name}."),
        }),
    )
}

fn conn() -> impl Strategy<Value = ConnInfo> {
    (
        ip(),
        ip(),
        any::<u16>(),
        proptest::sample::select(PORTS),
        sni(),
        proptest::bool::weighted(0.9),
    )
        .prop_map(|(remote, local, remote_port, port, sni, tcp)| ConnInfo {
            remote: SocketAddr::new(remote, remote_port),
            local: SocketAddr::new(local, port),
            sni,
            transport: if tcp { Transport::Tcp } else { Transport::Udp },
        })
}

fn table(routes: &[RouteSpec]) -> RouteTable {
    let resolved = routes
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let route: model::types::StreamRoute =
                serde_json::from_value(spec.body()).expect("generated route deserializes");
            Arc::new(ResolvedRoute {
                id: i.to_string(),
                name: None,
                route,
                upstream: None,
                upstream_error: None,
                plugins: BTreeMap::new(),
                create_revision: i as i64 + 1,
                mod_revision: i as i64 + 1,
                metric_label: Arc::from(i.to_string()),
                chain: Arc::default(),
            })
        })
        .collect();
    RouteTable::new(resolved)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_router_chooses_the_route_the_oracle_chooses(
        routes in proptest::collection::vec(route(), 0..12),
        conns in proptest::collection::vec(conn(), 1..24),
    ) {
        let table = table(&routes);
        for conn in &conns {
            let expected = oracle(&routes, conn).map(|i| i.to_string());
            let found = table.find(conn).map(|r| r.id.clone());
            prop_assert_eq!(&found, &expected, "connection {:?}", conn);
            let explained = table
                .explain(conn)
                .into_iter()
                .find(|v| v.failed.is_none())
                .map(|v| v.route_id);
            prop_assert_eq!(&explained, &expected, "explain for {:?}", conn);
        }
    }
}

/// A connection that satisfies every condition of `spec` (TCP; an SNI its pattern takes).
fn conn_for(spec: &RouteSpec, remote_port: u16) -> ConnInfo {
    let pick = |c: &Option<AddrCond>, fallback: &str| {
        c.as_ref()
            .map(|c| c.ip)
            .unwrap_or_else(|| fallback.parse().expect("fallback address"))
    };
    let sni = spec.sni.map(|p| match p {
        "*" => "any.name".to_owned(),
        _ => match p.strip_prefix('*') {
            Some(suffix) => format!("deep.host{suffix}"),
            None => p.to_owned(),
        },
    });
    ConnInfo {
        remote: SocketAddr::new(pick(&spec.remote_addr, "10.0.0.1"), remote_port),
        local: SocketAddr::new(
            pick(&spec.server_addr, "127.0.0.1"),
            spec.server_port.unwrap_or(PORTS[0]),
        ),
        sni,
        transport: Transport::Tcp,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_shadowed_route_is_never_chosen(
        routes in proptest::collection::vec(route(), 1..12),
        conns in proptest::collection::vec(conn(), 1..24),
        remote_port in any::<u16>(),
    ) {
        let table = table(&routes);
        let shadowed = table.shadowed();
        let own: Vec<ConnInfo> = routes.iter().map(|r| conn_for(r, remote_port)).collect();
        for conn in conns.iter().chain(&own) {
            if let Some(found) = table.find(conn) {
                prop_assert!(
                    !shadowed.contains_key(&found.id),
                    "route {} is flagged {:?} but took {:?}", found.id, shadowed.get(&found.id), conn
                );
            }
        }
        // Completeness on the pairwise rule: a route whose own connection goes to an earlier
        // route that takes all of its connections is flagged.
        for (i, spec) in routes.iter().enumerate() {
            let later = model::route_match::RouteConditions::of_value(&spec.body()).expect("route");
            let pattern = later.snis.first().cloned();
            let taken = routes[..i].iter().any(|a| {
                let earlier = model::route_match::RouteConditions::of_value(&a.body()).expect("route");
                model::shadow::takes_all(&earlier, &later, pattern.as_ref())
            });
            prop_assert_eq!(shadowed.contains_key(&i.to_string()), taken, "route {} of {:?}", i, routes);
        }
    }
}
