//! Route matching rules, including APISIX's t/stream-node/sni.t cases.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::route::ResolvedRoute;

fn route(id: &str, body: Value) -> Arc<ResolvedRoute> {
    let route: model::types::StreamRoute = serde_json::from_value(body).expect("valid route");
    Arc::new(ResolvedRoute {
        id: id.to_owned(),
        name: route.name.clone(),
        route,
        upstream: None,
        upstream_error: None,
        plugins: BTreeMap::new(),
        create_revision: 0,
        mod_revision: 0,
        metric_label: Arc::from(id),
        chain: Arc::default(),
    })
}

fn table(routes: &[(&str, Value)]) -> RouteTable {
    RouteTable::new(
        routes
            .iter()
            .map(|(id, body)| route(id, body.clone()))
            .collect(),
    )
}

fn conn(remote: &str, local: &str, sni: Option<&str>) -> ConnInfo {
    ConnInfo {
        remote: remote.parse::<SocketAddr>().expect("remote addr"),
        local: local.parse::<SocketAddr>().expect("local addr"),
        sni: sni.map(str::to_owned),
        transport: Transport::Tcp,
    }
}

fn tls(sni: &str) -> ConnInfo {
    conn("127.0.0.1:5000", "127.0.0.1:9100", Some(sni))
}

fn found(table: &RouteTable, conn: &ConnInfo) -> Option<String> {
    table.find(conn).map(|r| r.id.clone())
}

#[test]
fn route_without_conditions_matches_everything() {
    let t = table(&[("1", json!({}))]);
    assert_eq!(
        found(&t, &conn("10.1.2.3:1", "0.0.0.0:9100", None)).as_deref(),
        Some("1")
    );
    let mut udp = conn("[::1]:1", "[::1]:53", Some("a.com"));
    udp.transport = Transport::Udp;
    assert_eq!(found(&t, &udp).as_deref(), Some("1"));
}

#[test]
fn empty_table_matches_nothing() {
    let t = table(&[]);
    assert!(t.is_empty());
    assert!(t.find(&tls("a.com")).is_none());
    assert!(t.explain(&tls("a.com")).is_empty());
}

#[test]
fn route_with_remote_addr_cidr_rejects_other_clients() {
    let t = table(&[("1", json!({"remote_addr": "192.168.0.0/16"}))]);
    assert!(found(&t, &conn("192.168.3.4:1", "127.0.0.1:9100", None)).is_some());
    assert!(found(&t, &conn("10.0.0.5:1", "127.0.0.1:9100", None)).is_none());
}

#[test]
fn remote_addr_single_ip_matches_only_that_ip() {
    let t = table(&[("1", json!({"remote_addr": "127.0.0.2"}))]);
    assert!(found(&t, &conn("127.0.0.2:1", "127.0.0.1:9100", None)).is_some());
    assert!(found(&t, &conn("127.0.0.1:1", "127.0.0.1:9100", None)).is_none());
}

#[test]
fn ipv6_rules_match_ipv6_clients() {
    let t = table(&[
        ("net", json!({"remote_addr": "2001:db8::/32"})),
        ("one", json!({"remote_addr": "::1"})),
    ]);
    assert_eq!(
        found(&t, &conn("[2001:db8::7]:1", "[::1]:9100", None)).as_deref(),
        Some("net")
    );
    assert_eq!(
        found(&t, &conn("[::1]:1", "[::1]:9100", None)).as_deref(),
        Some("one")
    );
    assert!(found(&t, &conn("[2001:db9::1]:1", "[::1]:9100", None)).is_none());
    assert!(found(&t, &conn("10.0.0.1:1", "[::1]:9100", None)).is_none());
}

#[test]
fn ipv4_mapped_client_matches_ipv4_rules() {
    let t = table(&[
        ("net", json!({"remote_addr": "10.0.0.0/8"})),
        ("one", json!({"remote_addr": "192.168.1.1"})),
    ]);
    let mapped = conn("[::ffff:10.2.3.4]:1", "[::]:9100", None);
    assert_eq!(found(&t, &mapped).as_deref(), Some("net"));
    let mapped = conn("[::ffff:192.168.1.1]:1", "[::]:9100", None);
    assert_eq!(found(&t, &mapped).as_deref(), Some("one"));
}

#[test]
fn ipv4_client_matches_mapped_ipv6_rule() {
    let t = table(&[("1", json!({"remote_addr": "::ffff:10.0.0.0/104"}))]);
    assert!(found(&t, &conn("10.9.9.9:1", "127.0.0.1:9100", None)).is_some());
    assert!(found(&t, &conn("11.0.0.1:1", "127.0.0.1:9100", None)).is_none());
}

#[test]
fn server_addr_and_server_port_must_both_hold() {
    let t = table(&[(
        "1",
        json!({"server_addr": "127.0.0.1", "server_port": 9100}),
    )]);
    assert!(found(&t, &conn("1.1.1.1:1", "127.0.0.1:9100", None)).is_some());
    assert!(found(&t, &conn("1.1.1.1:1", "127.0.0.1:9101", None)).is_none());
    assert!(found(&t, &conn("1.1.1.1:1", "127.0.0.2:9100", None)).is_none());
}

#[test]
fn first_matching_route_in_load_order_wins() {
    let t = table(&[
        ("a", json!({"remote_addr": "10.0.0.0/8"})),
        ("b", json!({})),
        ("c", json!({"remote_addr": "127.0.0.1"})),
    ]);
    assert_eq!(
        found(&t, &conn("127.0.0.1:1", "127.0.0.1:9100", None)).as_deref(),
        Some("b")
    );
    assert_eq!(
        found(&t, &conn("10.0.0.1:1", "127.0.0.1:9100", None)).as_deref(),
        Some("a")
    );
}

#[test]
fn port_routes_and_portless_routes_merge_in_load_order() {
    let t = table(&[
        ("p9101", json!({"server_port": 9101})),
        ("any", json!({"remote_addr": "127.0.0.0/8"})),
        ("p9100", json!({"server_port": 9100})),
        ("p9100b", json!({"server_port": 9100})),
    ]);
    assert_eq!(
        found(&t, &conn("127.0.0.1:1", "127.0.0.1:9100", None)).as_deref(),
        Some("any")
    );
    assert_eq!(
        found(&t, &conn("10.0.0.1:1", "127.0.0.1:9100", None)).as_deref(),
        Some("p9100")
    );
    assert_eq!(
        found(&t, &conn("10.0.0.1:1", "127.0.0.1:9101", None)).as_deref(),
        Some("p9101")
    );
    assert!(found(&t, &conn("10.0.0.1:1", "127.0.0.1:9102", None)).is_none());
}

#[test]
fn ten_thousand_port_routes_find_the_right_one_quickly() {
    let routes: Vec<(String, Value)> = (0..10_000u32)
        .map(|i| {
            let port = 10_000 + (i % 5_000) as u16;
            (
                format!("r{i}"),
                json!({"server_port": port, "remote_addr": format!("10.{}.0.0/16", i / 5_000)}),
            )
        })
        .collect();
    let t = RouteTable::new(
        routes
            .iter()
            .map(|(id, body)| route(id, body.clone()))
            .collect(),
    );
    assert_eq!(t.len(), 10_000);
    let c = conn("10.1.2.3:1", "127.0.0.1:14999", None);
    assert_eq!(found(&t, &c).as_deref(), Some("r9999"));
    assert_eq!(
        t.by_port[&14999],
        [4999, 9999],
        "only this port's routes are candidates"
    );
    assert!(t.any_port.is_empty());
    let started = Instant::now();
    for _ in 0..100_000 {
        assert!(t.find(&c).is_some());
    }
    // Two candidates per lookup: far below the cost of scanning 10,000 routes.
    assert!(started.elapsed() < Duration::from_secs(5));
}

// --- SNI (t/stream-node/sni.t) ---

fn sni_table() -> RouteTable {
    table(&[
        ("plain", json!({})),
        ("wild", json!({"sni": "*.test.com"})),
        ("exact", json!({"sni": "a.test.com"})),
        ("star", json!({"sni": "*"})),
    ])
}

#[test]
fn exact_sni_beats_wildcard_loaded_earlier() {
    assert_eq!(
        found(&sni_table(), &tls("a.test.com")).as_deref(),
        Some("exact")
    );
}

#[test]
fn wildcard_sni_matches_any_depth_but_not_the_bare_suffix() {
    let t = sni_table();
    assert_eq!(found(&t, &tls("b.test.com")).as_deref(), Some("wild"));
    assert_eq!(found(&t, &tls("x.y.test.com")).as_deref(), Some("wild"));
    assert_eq!(found(&t, &tls("test.com")).as_deref(), Some("star"));
}

#[test]
fn star_sni_matches_any_name_after_more_specific_patterns() {
    assert_eq!(
        found(&sni_table(), &tls("other.org")).as_deref(),
        Some("star")
    );
}

#[test]
fn longest_wildcard_is_tried_first() {
    let t = table(&[
        ("short", json!({"sni": "*.com"})),
        ("long", json!({"sni": "*.b.test.com"})),
        ("mid", json!({"sni": "*.test.com"})),
    ]);
    assert_eq!(found(&t, &tls("a.b.test.com")).as_deref(), Some("long"));
    assert_eq!(found(&t, &tls("a.c.test.com")).as_deref(), Some("mid"));
    assert_eq!(found(&t, &tls("x.com")).as_deref(), Some("short"));
}

#[test]
fn exact_sni_falls_back_to_wildcard_when_addresses_fail() {
    let t = table(&[
        (
            "exact",
            json!({"sni": "a.test.com", "remote_addr": "10.0.0.0/8"}),
        ),
        ("wild", json!({"sni": "*.test.com"})),
    ]);
    assert_eq!(found(&t, &tls("a.test.com")).as_deref(), Some("wild"));
    let inside = conn("10.0.0.1:1", "127.0.0.1:9100", Some("a.test.com"));
    assert_eq!(found(&t, &inside).as_deref(), Some("exact"));
}

#[test]
fn routes_sharing_one_sni_are_tried_in_load_order() {
    let t = table(&[
        ("first", json!({"sni": "a.com", "server_port": 1})),
        ("second", json!({"sni": "a.com"})),
        ("third", json!({"sni": "a.com"})),
    ]);
    assert_eq!(found(&t, &tls("a.com")).as_deref(), Some("second"));
}

#[test]
fn tls_without_matching_sni_route_falls_back_to_plain_routes() {
    let t = table(&[
        ("sni", json!({"sni": "a.test.com"})),
        ("plain", json!({"server_port": 9100})),
    ]);
    assert_eq!(found(&t, &tls("b.test.com")).as_deref(), Some("plain"));
    let only_sni = table(&[("sni", json!({"sni": "a.test.com"}))]);
    assert!(only_sni.find(&tls("b.test.com")).is_none());
    assert!(only_sni.has_sni_routes());
    assert!(!table(&[("plain", json!({}))]).has_sni_routes());
}

#[test]
fn plain_tcp_never_matches_sni_routes() {
    let t = table(&[("sni", json!({"sni": "*"}))]);
    assert!(t
        .find(&conn("127.0.0.1:1", "127.0.0.1:9100", None))
        .is_none());
}

#[test]
fn udp_never_matches_sni_routes() {
    let t = table(&[("sni", json!({"sni": "a.com"})), ("plain", json!({}))]);
    let mut udp = tls("a.com");
    udp.transport = Transport::Udp;
    assert_eq!(found(&t, &udp).as_deref(), Some("plain"));
}

#[test]
fn sni_is_compared_lowercase_without_trailing_dot() {
    let t = table(&[
        ("1", json!({"sni": "A.Test.COM."})),
        ("2", json!({"sni": "*.Example.org"})),
    ]);
    assert_eq!(found(&t, &tls("a.test.com")).as_deref(), Some("1"));
    assert_eq!(found(&t, &tls("A.TEST.com.")).as_deref(), Some("1"));
    assert_eq!(found(&t, &tls("WWW.example.ORG")).as_deref(), Some("2"));
}

#[test]
fn snis_array_indexes_every_name() {
    let t = table(&[
        ("multi", json!({"snis": ["a.com", "*.b.com"]})),
        ("star", json!({"sni": "*"})),
    ]);
    assert_eq!(found(&t, &tls("a.com")).as_deref(), Some("multi"));
    assert_eq!(found(&t, &tls("x.b.com")).as_deref(), Some("multi"));
    assert_eq!(found(&t, &tls("c.com")).as_deref(), Some("star"));
}

#[test]
fn overlong_sni_matches_no_sni_route() {
    let t = table(&[("star", json!({"sni": "*"})), ("plain", json!({}))]);
    let long = "a".repeat(300);
    assert_eq!(found(&t, &tls(&long)).as_deref(), Some("plain"));
    assert_eq!(
        failures(&t, &tls(&long))[0].1.as_deref(),
        Some("sni: the connection's SNI is too long to be a host name")
    );
}

#[test]
fn subordinate_xrpc_routes_are_left_out() {
    let t = table(&[
        (
            "sub",
            json!({"protocol": {"name": "redis", "superior_id": "1"}}),
        ),
        ("top", json!({"protocol": {"name": "redis"}})),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(found(&t, &tls("a.com")).as_deref(), Some("top"));
}

// --- explain ---

fn failures(t: &RouteTable, c: &ConnInfo) -> Vec<(String, Option<String>)> {
    t.explain(c)
        .into_iter()
        .map(|v| (v.route_id, v.failed))
        .collect()
}

#[test]
fn explain_names_the_first_failed_condition() {
    let t = table(&[
        ("port", json!({"server_port": 9100})),
        (
            "remote",
            json!({"remote_addr": "192.168.0.0/16", "server_port": 1}),
        ),
        ("server", json!({"server_addr": "127.0.0.9"})),
        ("ok", json!({})),
        ("late", json!({})),
    ]);
    let c = conn("10.0.0.5:1", "127.0.0.1:2000", None);
    assert_eq!(
        failures(&t, &c),
        vec![
            (
                "port".into(),
                Some("server_port: 2000 does not equal 9100".into())
            ),
            (
                "remote".into(),
                Some("remote_addr: 10.0.0.5 is not in 192.168.0.0/16".into())
            ),
            (
                "server".into(),
                Some("server_addr: 127.0.0.1 does not equal 127.0.0.9".into())
            ),
            ("ok".into(), None),
            ("late".into(), Some(NOT_REACHED.into())),
        ]
    );
}

#[test]
fn explain_lists_sni_candidates_first_then_sni_misses_then_plain_routes() {
    let t = table(&[
        ("plain", json!({})),
        ("other", json!({"sni": "*.example.com"})),
        ("wild", json!({"sni": "*.example.org", "server_port": 1})),
        (
            "exact",
            json!({"sni": "a.example.org", "remote_addr": "10.0.0.0/8"}),
        ),
    ]);
    assert_eq!(
        failures(&t, &tls("a.example.org")),
        vec![
            (
                "exact".into(),
                Some("remote_addr: 127.0.0.1 is not in 10.0.0.0/8".into())
            ),
            (
                "wild".into(),
                Some("server_port: 9100 does not equal 1".into())
            ),
            (
                "other".into(),
                Some("sni: a.example.org does not match *.example.com".into())
            ),
            ("plain".into(), None),
        ]
    );
}

#[test]
fn explain_agrees_with_find() {
    let t = sni_table();
    for name in ["a.test.com", "b.test.com", "zzz", "test.com"] {
        let c = tls(name);
        let winner = t.explain(&c).into_iter().find(|v| v.failed.is_none());
        assert_eq!(winner.map(|v| v.route_id), found(&t, &c), "sni {name}");
    }
}

#[test]
fn explain_gives_sni_reasons_without_sni_and_for_udp() {
    let t = table(&[("s", json!({"snis": ["a.com", "*.b.com"]}))]);
    let plain = conn("127.0.0.1:1", "127.0.0.1:9100", None);
    assert_eq!(
        failures(&t, &plain),
        vec![("s".into(), Some("sni: connection has no SNI".into()))]
    );
    let mut udp = tls("a.com");
    udp.transport = Transport::Udp;
    assert_eq!(
        failures(&t, &udp),
        vec![("s".into(), Some("sni: sni routes never match udp".into()))]
    );
    assert_eq!(
        failures(&t, &tls("c.com")),
        vec![(
            "s".into(),
            Some("sni: c.com does not match any of a.com, *.b.com".into())
        )]
    );
}

#[test]
fn explain_reports_a_route_listed_under_two_patterns_once() {
    let t = table(&[(
        "s",
        json!({"snis": ["a.b.com", "*.b.com"], "server_port": 1}),
    )]);
    let verdicts = t.explain(&tls("a.b.com"));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(
        verdicts[0].failed.as_deref(),
        Some("server_port: 9100 does not equal 1")
    );
}

#[test]
fn invalid_address_rule_never_matches_and_says_why() {
    let t = table(&[("bad", json!({"remote_addr": "not-an-ip"}))]);
    let c = conn("127.0.0.1:1", "127.0.0.1:9100", None);
    assert!(t.find(&c).is_none());
    assert_eq!(
        failures(&t, &c)[0].1.as_deref(),
        Some("remote_addr: invalid rule \"not-an-ip\" never matches")
    );
}
