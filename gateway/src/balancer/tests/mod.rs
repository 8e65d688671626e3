//! Balancer behaviour: weights, smoothness, consistent hashing, least_conn, ewma, priority
//! groups, the retry budget and health.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::health::{HealthCounter, HealthStatus, Report};
use super::*;
use crate::conn::{ConnInfo, Transport};

mod policies;

fn upstream(body: Value) -> UpstreamRuntime {
    let up: model::types::Upstream = serde_json::from_value(body).expect("valid upstream");
    UpstreamRuntime::compile("upstreams/1".to_owned(), &up)
}

fn client(remote: &str) -> ConnInfo {
    ConnInfo {
        remote: remote.parse::<SocketAddr>().expect("remote addr"),
        local: "127.0.0.1:9100".parse().expect("local addr"),
        sni: None,
        transport: Transport::Tcp,
    }
}

fn any() -> ConnInfo {
    client("127.0.0.1:40000")
}

fn addr(s: &str) -> NodeAddr {
    let (host, port) = s.rsplit_once(':').expect("host:port");
    NodeAddr {
        host: host.to_owned(),
        port: port.parse().expect("port"),
    }
}

/// One fresh-connection pick.
fn pick1(up: &UpstreamRuntime, conn: &ConnInfo) -> String {
    up.pick(conn, &mut PickState::default())
        .expect("a node")
        .to_string()
}

/// Every pick of one connection until the budget or the nodes run out.
fn pick_all(up: &UpstreamRuntime, conn: &ConnInfo, state: &mut PickState) -> Vec<String> {
    std::iter::from_fn(|| up.pick(conn, state).map(|n| n.to_string())).collect()
}

fn counts(picks: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for p in picks {
        *out.entry(p).or_default() += 1;
    }
    out
}

#[test]
fn roundrobin_weights_3_to_1_give_an_exact_ratio_over_400_picks() {
    let up = upstream(json!({"nodes": {"10.0.0.1:80": 3, "10.0.0.2:80": 1}}));
    let got = counts((0..400).map(|_| pick1(&up, &any())));
    assert_eq!(got["10.0.0.1:80"], 300);
    assert_eq!(got["10.0.0.2:80"], 100);
}

#[test]
fn roundrobin_equal_weights_alternate_without_bursts() {
    let up = upstream(json!({"nodes": {"10.0.0.1:80": 1, "10.0.0.2:80": 1}}));
    let picks: Vec<String> = (0..20).map(|_| pick1(&up, &any())).collect();
    for pair in picks.windows(2) {
        assert_ne!(pair[0], pair[1], "{picks:?}");
    }
}

#[test]
fn roundrobin_is_smooth_like_nginx() {
    let up = upstream(json!({"nodes": [
        {"host": "a", "port": 1, "weight": 5},
        {"host": "b", "port": 1, "weight": 1},
        {"host": "c", "port": 1, "weight": 1},
    ]}));
    let picks: Vec<String> = (0..7).map(|_| pick1(&up, &any())).collect();
    assert_eq!(picks, ["a:1", "a:1", "b:1", "a:1", "c:1", "a:1", "a:1"]);
}

#[test]
fn weight_zero_nodes_are_never_picked() {
    for kind in ["roundrobin", "chash", "least_conn", "ewma"] {
        let up = upstream(json!({"type": kind, "key": "remote_addr",
            "nodes": {"10.0.0.1:80": 0, "10.0.0.2:80": 1}}));
        for i in 0..50 {
            let c = client(&format!("10.1.0.{i}:1000"));
            let mut state = PickState::default();
            assert_eq!(pick_all(&up, &c, &mut state), ["10.0.0.2:80"], "{kind}");
        }
    }
    let none = upstream(json!({"nodes": {"10.0.0.1:80": 0}}));
    assert!(none.pick(&any(), &mut PickState::default()).is_none());
}

#[test]
fn default_retries_try_every_node_once() {
    let up = upstream(json!({"nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    assert_eq!(up.retries(), 2);
    let mut state = PickState::default();
    let picks = pick_all(&up, &any(), &mut state);
    assert_eq!(picks.len(), 3);
    assert_eq!(counts(picks).len(), 3);
    assert_eq!(state.attempts, 3);
    assert_eq!(state.tried.len(), 3);
}

#[test]
fn retries_limit_the_number_of_picks() {
    let one = upstream(json!({"retries": 1, "nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    assert_eq!(pick_all(&one, &any(), &mut PickState::default()).len(), 2);
    let zero = upstream(json!({"retries": 0, "nodes": {"a:1": 1, "b:1": 1}}));
    assert_eq!(pick_all(&zero, &any(), &mut PickState::default()).len(), 1);
    let many = upstream(json!({"retries": 10, "nodes": {"a:1": 1, "b:1": 1}}));
    assert_eq!(pick_all(&many, &any(), &mut PickState::default()).len(), 2);
}

#[test]
fn caller_listed_tried_nodes_are_skipped() {
    let up = upstream(json!({"nodes": {"a:1": 1, "b:1": 1}}));
    let mut state = PickState {
        tried: vec![addr("a:1")],
        ..PickState::default()
    };
    assert_eq!(up.pick(&any(), &mut state), Some(addr("b:1")));
}

#[test]
fn retry_timeout_stops_retries_after_the_deadline() {
    let up = upstream(json!({"retry_timeout": 1, "nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    let mut state = PickState::default();
    assert!(up.pick(&any(), &mut state).is_some());
    assert!(state.started.is_some());
    assert!(up.pick(&any(), &mut state).is_some(), "within the deadline");
    state.started = Instant::now().checked_sub(Duration::from_secs(2));
    assert!(up.pick(&any(), &mut state).is_none(), "deadline passed");

    let none = upstream(json!({"retry_timeout": 0, "nodes": {"a:1": 1, "b:1": 1}}));
    let mut state = PickState::default();
    assert!(none.pick(&any(), &mut state).is_some());
    state.started = Instant::now().checked_sub(Duration::from_secs(3600));
    assert!(
        none.pick(&any(), &mut state).is_some(),
        "0 means no deadline"
    );
}

#[test]
fn higher_priority_group_is_used_until_exhausted() {
    let up = upstream(json!({"nodes": [
        {"host": "low", "port": 1, "weight": 100, "priority": -1},
        {"host": "high", "port": 1, "weight": 1, "priority": 10},
        {"host": "mid", "port": 1, "weight": 1, "priority": 0},
    ]}));
    for _ in 0..20 {
        assert_eq!(pick1(&up, &any()), "high:1");
    }
    let mut state = PickState::default();
    assert_eq!(
        pick_all(&up, &any(), &mut state),
        ["high:1", "mid:1", "low:1"]
    );
}

#[test]
fn unhealthy_higher_priority_group_falls_back_to_lower() {
    let up = upstream(json!({"nodes": [
        {"host": "high", "port": 1, "weight": 1, "priority": 1},
        {"host": "low", "port": 1, "weight": 1, "priority": 0},
    ]}));
    assert!(up.set_healthy(&addr("high:1"), false));
    assert_eq!(pick1(&up, &any()), "low:1");
}

#[test]
fn unhealthy_nodes_are_skipped() {
    let up = upstream(json!({"nodes": {"a:1": 1, "b:1": 1, "c:1": 1}}));
    up.set_healthy(&addr("b:1"), false);
    assert!(!up.is_healthy(&addr("b:1")));
    let got = counts((0..30).map(|_| pick1(&up, &any())));
    assert_eq!(got.get("b:1"), None);
    assert_eq!(got["a:1"], 15);
    up.set_healthy(&addr("b:1"), true);
    let got = counts((0..30).map(|_| pick1(&up, &any())));
    assert_eq!(got["b:1"], 10);
}

#[test]
fn all_unhealthy_nodes_are_used_anyway() {
    let up = upstream(json!({"nodes": {"a:1": 1, "b:1": 1}}));
    up.set_healthy(&addr("a:1"), false);
    up.set_healthy(&addr("b:1"), false);
    let got = counts((0..10).map(|_| pick1(&up, &any())));
    assert_eq!(got["a:1"], 5);
    assert_eq!(got["b:1"], 5);
    assert!(!up.set_healthy(&addr("zzz:1"), false), "unknown node");
}

#[test]
fn passive_check_marks_a_node_unhealthy_after_tcp_failures() {
    let checks = json!({"active": {"type": "tcp"}, "passive": {"unhealthy": {"tcp_failures": 3}}});
    let up = upstream(json!({"checks": checks, "nodes": {"a:1": 1, "b:1": 1}}));
    let a = addr("a:1");
    up.report_connect(&a, Err(ConnectFailure::Refused));
    up.report_connect(&a, Ok(Duration::from_millis(1)));
    up.report_connect(&a, Err(ConnectFailure::Refused));
    let health = up.health(&a).expect("known node");
    assert_eq!(
        health.status,
        HealthStatus::MostlyHealthy,
        "still takes traffic"
    );
    assert_eq!(
        health.counter.tcp_failure, 2,
        "traffic successes are not reported in stream"
    );
    assert!(up.is_healthy(&a));
    up.report_connect(&a, Err(ConnectFailure::Refused));
    assert!(!up.is_healthy(&a));
    assert_eq!(up.health(&a).expect("node").status, HealthStatus::Unhealthy);

    let unchecked = upstream(json!({"nodes": {"a:1": 1}}));
    for _ in 0..10 {
        unchecked.report_connect(&a, Err(ConnectFailure::Refused));
    }
    assert!(unchecked.is_healthy(&a));
}

#[test]
fn connect_timeouts_count_against_passive_timeouts_not_tcp_failures() {
    let checks = json!({"active": {"type": "tcp"}, "passive": {"unhealthy": {"timeouts": 2, "tcp_failures": 5}}});
    let up = upstream(json!({"checks": checks, "nodes": {"a:1": 1, "b:1": 1}}));
    let a = addr("a:1");
    let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
    up.report_connect(&a, Err(ConnectFailure::of(&timeout)));
    let health = up.health(&a).expect("known node");
    assert_eq!(
        (health.counter.timeout_failure, health.counter.tcp_failure),
        (1, 0)
    );
    up.report_connect(&a, Err(ConnectFailure::TimedOut));
    assert!(!up.is_healthy(&a), "two timeouts reach unhealthy.timeouts");
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(ConnectFailure::of(&refused), ConnectFailure::Refused);
}

#[test]
fn active_successes_bring_back_a_node_marked_down_by_passive_checks() {
    let checks = json!({"active": {"type": "tcp", "healthy": {"successes": 2}}});
    let up = upstream(json!({"checks": checks, "nodes": {"a:1": 1, "b:1": 1}}));
    let a = addr("a:1");
    up.report_connect(&a, Err(ConnectFailure::Refused));
    up.report_connect(&a, Err(ConnectFailure::Refused));
    assert!(!up.is_healthy(&a), "passive tcp_failures defaults to 2");
    assert!(up.report_probe(&a, Report::Success));
    assert_eq!(
        up.health(&a).expect("node").status,
        HealthStatus::MostlyUnhealthy
    );
    assert!(!up.is_healthy(&a));
    up.report_probe(&a, Report::Success);
    assert!(up.is_healthy(&a));
    let health = up.health(&a).expect("node");
    assert_eq!(
        health.counter,
        HealthCounter {
            success: 2,
            ..HealthCounter::default()
        }
    );
    let unchecked = upstream(json!({"nodes": {"a:1": 1}}));
    assert!(!unchecked.report_probe(&a, Report::Success), "no checker");
}

#[test]
fn timeouts_default_and_follow_configuration() {
    let up = upstream(json!({"nodes": {"a:1": 1}}));
    assert_eq!(up.connect_timeout(), Duration::from_secs(60));
    assert_eq!(up.idle_timeout(), Duration::from_secs(600));
    let up =
        upstream(json!({"nodes": {"a:1": 1}, "timeout": {"connect": 1.5, "send": 3, "read": 7}}));
    assert_eq!(up.connect_timeout(), Duration::from_millis(1500));
    assert_eq!(up.idle_timeout(), Duration::from_secs(7));
}

#[test]
fn nodes_view_shows_live_state() {
    let up = upstream(json!({"nodes": [
        {"host": "a", "port": 1, "weight": 2, "priority": 1},
        {"host": "b", "port": 2, "weight": 1},
        {"host": "noport", "weight": 1},
    ]}));
    up.session_started(&addr("a:1"));
    up.set_healthy(&addr("b:2"), false);
    let view = up.nodes();
    assert_eq!(view.len(), 2, "a node without port is skipped");
    assert_eq!(
        view[0],
        NodeView {
            info: NodeInfo {
                host: "a".into(),
                port: 1,
                weight: 2,
                priority: 1,
                healthy: true,
                active_sessions: 1,
            },
            status: HealthStatus::Healthy,
            counter: HealthCounter::default(),
        }
    );
    assert!(!view[1].info.healthy);
    assert_eq!(view[1].status, HealthStatus::Unhealthy);
}

#[test]
fn unknown_type_and_empty_nodes_never_pick() {
    let up = upstream(json!({"type": "magic", "nodes": {"a:1": 1}}));
    assert!(up.pick(&any(), &mut PickState::default()).is_none());
    assert_eq!(
        up.unusable_reason().as_deref(),
        Some("unknown balancer type: magic")
    );
    let empty = upstream(json!({"nodes": {}}));
    assert!(empty.pick(&any(), &mut PickState::default()).is_none());
    assert_eq!(
        empty.unusable_reason().as_deref(),
        Some("no valid upstream node")
    );
    assert_eq!(
        upstream(json!({"nodes": {"a:1": 1}})).unusable_reason(),
        None
    );
}

#[test]
fn ipv6_nodes_display_with_brackets() {
    let up = upstream(json!({"nodes": {"[::1]:80": 1}}));
    assert_eq!(pick1(&up, &any()), "[::1]:80");
    let bare = NodeAddr {
        host: "::1".into(),
        port: 80,
    };
    assert_eq!(bare.to_string(), "[::1]:80");
}

#[tokio::test]
async fn resolve_handles_literals_and_names() {
    let up = upstream(json!({"nodes": {"[::1]:80": 1, "127.0.0.1:81": 1}}));
    let v6 = up.resolve(&addr("[::1]:80")).await.expect("literal");
    assert_eq!(v6, vec!["[::1]:80".parse::<SocketAddr>().expect("addr")]);
    let v4 = up.resolve(&addr("127.0.0.1:81")).await.expect("literal");
    assert_eq!(
        v4,
        vec!["127.0.0.1:81".parse::<SocketAddr>().expect("addr")]
    );
    let lookup = tokio::time::timeout(Duration::from_secs(10), up.resolve(&addr("localhost:82")))
        .await
        .expect("lookup finishes");
    let names = lookup.expect("localhost resolves");
    assert!(names.iter().all(|a| a.port() == 82 && a.ip().is_loopback()));
    let cached = up.resolve(&addr("localhost:82")).await.expect("cached");
    assert_eq!(cached, names);
}
