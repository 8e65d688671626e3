//! Clear cases of [`super::shadowed`], and the index against the pairwise rule.

use serde_json::{json, Value};

use super::*;

fn conditions(value: Value) -> RouteConditions {
    RouteConditions::of_value(&value).expect("a stream route")
}

/// The shadowed routes of `routes` (ids `1`, `2`, ... in this order) as `(id, by)`.
fn flagged(routes: &[Value]) -> Vec<(String, Vec<String>)> {
    let compiled: Vec<(String, RouteConditions)> = routes
        .iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), conditions(v.clone())))
        .collect();
    shadowed(compiled.iter().map(|(id, c)| (id.as_str(), c)))
        .into_iter()
        .map(|s| (s.id, s.by))
        .collect()
}

fn pair(id: &str, by: &[&str]) -> (String, Vec<String>) {
    (id.to_owned(), by.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn a_catch_all_route_shadows_every_later_route_without_sni() {
    let routes = [
        json!({}),
        json!({"server_port": 9100}),
        json!({"remote_addr": "10.0.0.0/8", "server_addr": "127.0.0.1"}),
        json!({"sni": "a.com"}),
    ];
    assert_eq!(flagged(&routes), [pair("2", &["1"]), pair("3", &["1"])]);
}

#[test]
fn a_wider_network_on_the_same_port_shadows_a_narrower_one_not_the_reverse() {
    let routes = [
        json!({"server_port": 9100, "remote_addr": "10.0.0.0/8"}),
        json!({"server_port": 9100, "remote_addr": "10.1.0.0/16"}),
        json!({"server_port": 9100, "remote_addr": "0.0.0.0/0"}),
        json!({"server_port": 9101, "remote_addr": "10.1.2.3"}),
    ];
    assert_eq!(flagged(&routes), [pair("2", &["1"])]);
}

#[test]
fn a_route_with_a_port_never_shadows_one_without() {
    let routes = [json!({"server_port": 9100}), json!({})];
    assert!(flagged(&routes).is_empty());
}

#[test]
fn server_addr_must_be_contained_too() {
    let routes = [
        json!({"server_addr": "127.0.0.0/8"}),
        json!({"server_addr": "127.0.0.1", "remote_addr": "10.0.0.1"}),
        json!({"server_addr": "::1"}),
    ];
    assert_eq!(flagged(&routes), [pair("2", &["1"])]);
}

#[test]
fn the_same_sni_pattern_earlier_shadows_and_other_patterns_do_not() {
    let routes = [
        json!({"sni": "*.example.com"}),
        json!({"sni": "*.Example.com.", "server_port": 9100}),
        json!({"sni": "a.example.com"}),
        json!({"sni": "*"}),
        json!({"sni": "*.a.example.com"}),
    ];
    assert_eq!(flagged(&routes), [pair("2", &["1"])]);
}

#[test]
fn every_pattern_of_a_route_must_be_taken() {
    let routes = [
        json!({"sni": "a.com"}),
        json!({"snis": ["a.com", "b.com"]}),
        json!({"sni": "b.com", "remote_addr": "10.0.0.0/8"}),
        json!({"sni": "b.com"}),
        json!({"snis": ["a.com", "b.com"]}),
    ];
    assert_eq!(
        flagged(&routes),
        [pair("3", &["2"]), pair("4", &["2"]), pair("5", &["1", "2"])]
    );
}

#[test]
fn sni_and_plain_routes_never_shadow_each_other() {
    let routes = [json!({"sni": "*"}), json!({}), json!({"sni": "a.com"})];
    assert!(flagged(&routes).is_empty());
}

#[test]
fn subordinates_and_invalid_rules_are_left_alone() {
    let routes = [
        json!({"protocol": {"name": "redis", "superior_id": "9"}}),
        json!({"server_port": 9100}),
        json!({"remote_addr": "not-an-ip"}),
        json!({"server_port": 9100, "remote_addr": "not-an-ip"}),
    ];
    assert!(flagged(&routes).is_empty());
}

#[test]
fn ipv6_rules_that_take_ipv4_through_the_mapped_form_shadow_ipv4_rules() {
    let routes = [
        json!({"remote_addr": "::ffff:10.0.0.0/104"}),
        json!({"remote_addr": "10.2.0.0/16"}),
        json!({"remote_addr": "::/0"}),
        json!({}),
    ];
    assert_eq!(flagged(&routes), [pair("2", &["1"]), pair("4", &["3"])]);
}

#[test]
fn describe_names_the_shadowing_routes() {
    let one = Shadowed {
        id: "2".into(),
        by: vec!["1".into()],
    };
    assert_eq!(one.describe(), "shadowed by stream_route 1");
    assert_eq!(
        describe(&["1".to_owned(), "3".to_owned()]),
        "shadowed by stream_routes 1, 3"
    );
}

/// The pairwise rule, plainly: B (one slot) is shadowed when some earlier route takes it.
fn pairwise(routes: &[RouteConditions]) -> Vec<String> {
    let mut out = Vec::new();
    for (b, later) in routes.iter().enumerate() {
        if later.subordinate || later.snis.len() > 1 {
            continue;
        }
        let pattern = later.snis.first();
        let valid = |r: &Option<crate::route_match::AddrRule>| {
            !matches!(r, Some(crate::route_match::AddrRule::Invalid(_)))
        };
        if !valid(&later.remote_addr) || !valid(&later.server_addr) {
            continue;
        }
        if routes[..b].iter().any(|a| takes_all(a, later, pattern)) {
            out.push((b + 1).to_string());
        }
    }
    out
}

#[test]
fn the_index_finds_what_the_pairwise_rule_finds() {
    let remotes = [
        None,
        Some("10.0.0.0/8"),
        Some("10.1.0.0/16"),
        Some("10.1.2.3"),
        Some("0.0.0.0/0"),
        Some("::/0"),
        Some("::ffff:10.0.0.0/104"),
        Some("2001:db8::/32"),
        Some("2001:db8::1"),
    ];
    let ports = [None, Some(9100), Some(9101)];
    let snis = [None, Some("a.com"), Some("*.a.com")];
    // A deterministic walk over many small route lists.
    let mut seed: u64 = 7;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    for _ in 0..400 {
        let len = 1 + next(8);
        let routes: Vec<RouteConditions> = (0..len)
            .map(|_| {
                let mut v = serde_json::Map::new();
                if let Some(r) = remotes[next(remotes.len())] {
                    v.insert("remote_addr".into(), json!(r));
                }
                if let Some(p) = ports[next(ports.len())] {
                    v.insert("server_port".into(), json!(p));
                }
                if let Some(s) = snis[next(snis.len())] {
                    v.insert("sni".into(), json!(s));
                }
                conditions(Value::Object(v))
            })
            .collect();
        let ids: Vec<String> = (1..=len).map(|i| i.to_string()).collect();
        let found: Vec<String> = shadowed(ids.iter().map(String::as_str).zip(routes.iter()))
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(found, pairwise(&routes), "routes {routes:?}");
    }
}

#[test]
fn ten_thousand_routes_on_one_port_are_analysed_quickly() {
    let routes: Vec<RouteConditions> = (0..10_000u32)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            conditions(json!({"server_port": 9100, "remote_addr": ip}))
        })
        .collect();
    let ids: Vec<String> = (0..routes.len()).map(|i| i.to_string()).collect();
    let started = std::time::Instant::now();
    let found = shadowed(ids.iter().map(String::as_str).zip(routes.iter()));
    assert!(found.is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn stored_routes_are_put_in_load_order_first() {
    let wide = json!({"server_port": 9100});
    let narrow = json!({"server_port": 9100, "remote_addr": "10.0.0.1"});
    // "10" sorts before "2" as the gateway sorts ids of one revision.
    let same_revision = shadowed_stored([("2", &wide, 5), ("10", &narrow, 5)]);
    assert!(same_revision.is_empty(), "{same_revision:?}");
    let found = shadowed_stored([("10", &narrow, 9), ("2", &wide, 5)]);
    assert_eq!(
        found,
        [Shadowed {
            id: "10".into(),
            by: vec!["2".into()]
        }]
    );
}
