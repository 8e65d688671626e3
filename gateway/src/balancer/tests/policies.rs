//! `chash`, `least_conn` and `ewma` choices.

use std::time::Duration;

use serde_json::json;

use super::{addr, any, client, counts, pick1, pick_all, upstream};
use crate::balancer::{ConnectFailure, PickState};

#[test]
fn chash_sticks_each_client_ip_to_one_node() {
    let body = json!({"type": "chash", "key": "remote_addr",
        "nodes": {"10.0.0.1:80": 1, "10.0.0.2:80": 1, "10.0.0.3:80": 1}});
    let up = upstream(body.clone());
    let again = upstream(body);
    for i in 0..50 {
        let first = pick1(&up, &client(&format!("192.168.0.{i}:1")));
        for port in 2..12 {
            let c = client(&format!("192.168.0.{i}:{port}"));
            assert_eq!(pick1(&up, &c), first);
            assert_eq!(pick1(&again, &c), first, "stable across compiles");
        }
    }
}

#[test]
fn chash_spreads_clients_over_nodes_by_weight() {
    let up = upstream(json!({"type": "chash", "key": "remote_addr",
        "nodes": {"10.0.0.1:80": 1, "10.0.0.2:80": 1, "10.0.0.3:80": 1}}));
    let got =
        counts((0..3000).map(|i| pick1(&up, &client(&format!("10.{}.{}.1:1", i / 256, i % 256)))));
    for (node, n) in &got {
        assert!((700..=1300).contains(n), "{node}: {n} of 3000");
    }
    let weighted = upstream(json!({"type": "chash",
        "nodes": {"10.0.0.1:80": 3, "10.0.0.2:80": 1}}));
    let got = counts((0..4000).map(|i| {
        pick1(
            &weighted,
            &client(&format!("10.{}.{}.1:1", i / 256, i % 256)),
        )
    }));
    assert!((2600..=3400).contains(&got["10.0.0.1:80"]), "{got:?}");
}

#[test]
fn chash_retry_walks_to_the_next_distinct_node() {
    let up = upstream(json!({"type": "chash", "key": "remote_addr",
        "nodes": {"10.0.0.1:80": 1, "10.0.0.2:80": 1, "10.0.0.3:80": 1}}));
    let c = client("172.16.0.9:1");
    let picks = pick_all(&up, &c, &mut PickState::default());
    assert_eq!(picks.len(), 3);
    assert_eq!(counts(picks.clone()).len(), 3);
    assert_eq!(
        pick_all(&up, &c, &mut PickState::default()),
        picks,
        "same order every time"
    );
}

#[test]
fn chash_on_server_port_ignores_the_client() {
    let up = upstream(json!({"type": "chash", "key": "server_port",
        "nodes": {"a:1": 1, "b:1": 1, "c:1": 1, "d:1": 1}}));
    let first = pick1(&up, &client("1.1.1.1:1"));
    for i in 0..30 {
        assert_eq!(
            pick1(&up, &client(&format!("2.2.2.{i}:{}", 1000 + i))),
            first
        );
    }
}

#[test]
fn chash_on_mqtt_client_id_reads_plugin_vars() {
    let up = upstream(json!({"type": "chash", "key": "mqtt_client_id",
        "nodes": {"a:1": 1, "b:1": 1, "c:1": 1, "d:1": 1}}));
    let by_id = |ip: &str, id: &str| {
        let mut state = PickState::with_vars(vec![("mqtt_client_id".into(), id.into())]);
        up.pick(&client(ip), &mut state)
            .expect("a node")
            .to_string()
    };
    for id in ["dev-1", "dev-2", "dev-3"] {
        let first = by_id("1.1.1.1:1", id);
        for i in 0..20 {
            assert_eq!(by_id(&format!("3.3.{i}.1:9"), id), first);
        }
    }
    // Unresolvable: same as hashing remote_addr.
    let by_addr = upstream(json!({"type": "chash", "key": "remote_addr",
        "nodes": {"a:1": 1, "b:1": 1, "c:1": 1, "d:1": 1}}));
    for i in 0..20 {
        let c = client(&format!("5.5.{i}.1:9"));
        assert_eq!(pick1(&up, &c), pick1(&by_addr, &c));
    }
}

#[test]
fn chash_vars_combinations_interpolates_the_key() {
    let nodes = json!({"a:1": 1, "b:1": 1, "c:1": 1, "d:1": 1});
    let up = upstream(json!({"type": "chash", "hash_on": "vars_combinations",
        "key": "$remote_addr:${server_port}", "nodes": nodes}));
    let spread = counts((0..200).map(|i| pick1(&up, &client(&format!("6.6.{i}.1:9")))));
    assert!(spread.len() > 1, "different clients spread");
    for i in 0..20 {
        let c = client(&format!("6.6.{i}.1:9"));
        let mut moved = c.clone();
        moved.remote.set_port(4444);
        assert_eq!(
            pick1(&up, &c),
            pick1(&up, &moved),
            "remote_port is not in the key"
        );
    }
    let unresolved = upstream(json!({"type": "chash", "hash_on": "vars_combinations",
        "key": "$nothing-$missing", "nodes": nodes}));
    let by_addr = upstream(json!({"type": "chash", "nodes": nodes}));
    for i in 0..20 {
        let c = client(&format!("7.7.{i}.1:9"));
        assert_eq!(pick1(&unresolved, &c), pick1(&by_addr, &c));
    }
}

#[test]
fn chash_on_ssl_server_name_reads_the_sni() {
    let up = upstream(json!({"type": "chash", "key": "ssl_server_name",
        "nodes": {"a:1": 1, "b:1": 1, "c:1": 1, "d:1": 1}}));
    let with_sni = |ip: &str, sni: &str| {
        let mut c = client(ip);
        c.sni = Some(sni.to_owned());
        pick1(&up, &c)
    };
    let spread = counts((0..100).map(|i| with_sni("1.1.1.1:1", &format!("h{i}.example.com"))));
    assert!(spread.len() > 1);
    let first = with_sni("1.1.1.1:1", "a.example.com");
    for i in 0..20 {
        assert_eq!(with_sni(&format!("9.9.{i}.9:1"), "a.example.com"), first);
    }
}

#[test]
fn least_conn_picks_the_node_with_fewest_sessions() {
    let up = upstream(json!({"type": "least_conn", "nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    up.session_started(&addr("a:1"));
    up.session_started(&addr("a:1"));
    up.session_started(&addr("c:1"));
    assert_eq!(pick1(&up, &any()), "b:1");
    up.session_started(&addr("b:1"));
    up.session_started(&addr("b:1"));
    assert_eq!(pick1(&up, &any()), "c:1");
    up.session_ended(&addr("a:1"));
    up.session_ended(&addr("a:1"));
    up.session_ended(&addr("a:1"));
    assert_eq!(up.active_sessions(&addr("a:1")), 0, "never below zero");
    assert_eq!(pick1(&up, &any()), "a:1");
}

#[test]
fn least_conn_scales_sessions_by_weight() {
    let up = upstream(json!({"type": "least_conn", "nodes": {"heavy:1": 3, "light:1": 1}}));
    for _ in 0..2 {
        up.session_started(&addr("heavy:1"));
    }
    up.session_started(&addr("light:1"));
    assert_eq!(pick1(&up, &any()), "heavy:1", "2/3 < 1/1");
    up.session_started(&addr("heavy:1"));
    up.session_started(&addr("heavy:1"));
    assert_eq!(pick1(&up, &any()), "light:1", "4/3 > 1/1");
}

#[test]
fn least_conn_spreads_ties() {
    let up = upstream(json!({"type": "least_conn", "nodes": {"a:1": 1, "b:1": 1}}));
    let got = counts((0..10).map(|_| pick1(&up, &any())));
    assert_eq!(got.len(), 2);
}

#[test]
fn ewma_prefers_the_fastest_node_and_tries_unknown_ones() {
    let up = upstream(json!({"type": "ewma", "nodes": {"slow:1": 1, "fast:1": 1}}));
    up.report_connect(&addr("slow:1"), Ok(Duration::from_millis(200)));
    assert_eq!(pick1(&up, &any()), "fast:1", "unknown latency counts as 0");
    up.report_connect(&addr("fast:1"), Ok(Duration::from_millis(2)));
    for _ in 0..50 {
        assert_eq!(pick1(&up, &any()), "fast:1");
    }
    up.report_connect(&addr("fast:1"), Err(ConnectFailure::Refused));
    up.report_connect(&addr("fast:1"), Err(ConnectFailure::Refused));
    assert_eq!(
        pick1(&up, &any()),
        "slow:1",
        "failures count as connect timeouts"
    );
}

#[test]
fn ewma_retry_takes_an_untried_node() {
    let up = upstream(json!({"type": "ewma", "nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    let picks = pick_all(&up, &any(), &mut PickState::default());
    assert_eq!(counts(picks).len(), 3);
}
