//! Stream plugins end to end: ip-restriction, limit-conn, mqtt-proxy and traffic-split on a
//! real proxy listener.

mod plugins_support;

use plugins_support::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn ip_restriction_admits_and_refuses_v4_clients() {
    let backend = Backend::start(b'A').await;
    // One route per test gateway: first the allowing whitelist, then a refusing one.
    let gw = Gateway::start(
        &[(
            "stream_routes/1",
            json!({"plugins": {"ip-restriction": {"whitelist": ["127.0.0.0/8"]}},
                   "upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"}}),
        )],
        false,
    )
    .await;
    assert_eq!(tag_of(gw.addr(), b"").await.0, Some(b'A'));

    let gw = Gateway::start(
        &[(
            "stream_routes/1",
            json!({"plugins": {"ip-restriction": {"whitelist": ["10.0.0.0/8"]}},
                   "upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"}}),
        )],
        false,
    )
    .await;
    assert_eq!(tag_of(gw.addr(), b"").await.0, None);
}

#[tokio::test]
async fn ip_restriction_matches_v6_loopback() {
    let backend = Backend::start(b'A').await;
    let route = |plugin: serde_json::Value| {
        json!({"plugins": {"ip-restriction": plugin},
               "upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"}})
    };
    let gw = Gateway::start(
        &[("stream_routes/1", route(json!({"whitelist": ["::1/128"]})))],
        true,
    )
    .await;
    assert_eq!(tag_of(gw.addrs[1], b"").await.0, Some(b'A'));
    assert_eq!(
        tag_of(gw.addrs[0], b"").await.0,
        None,
        "v4 client not in v6 whitelist"
    );

    let gw = Gateway::start(
        &[("stream_routes/1", route(json!({"blacklist": ["::1"]})))],
        true,
    )
    .await;
    assert_eq!(tag_of(gw.addrs[1], b"").await.0, None);
    assert_eq!(tag_of(gw.addrs[0], b"").await.0, Some(b'A'));
}

#[tokio::test]
async fn limit_conn_serves_conn_plus_burst_and_releases_counts() {
    let backend = Backend::start(b'A').await;
    let gw = Gateway::start(
        &[(
            "stream_routes/1",
            json!({"plugins": {"limit-conn": {"conn": 2, "burst": 1, "default_conn_delay": 0.05,
                                              "only_use_default_delay": true, "key": "remote_addr"}},
                   "upstream": {"nodes": nodes(&[backend.addr]), "type": "roundrobin"}}),
        )],
        false,
    )
    .await;
    let mut held = Vec::new();
    let (mut served, mut closed) = (0, 0);
    for _ in 0..5 {
        let (tag, stream) = tag_of(gw.addr(), b"").await;
        match tag {
            Some(_) => served += 1,
            None => closed += 1,
        }
        held.push(stream);
    }
    assert_eq!((served, closed), (3, 2));
    assert_eq!(gw.plugins.counters.total(), 3);
    for mut s in held {
        let _ = s.shutdown().await;
    }
    let counters = gw.plugins.counters.clone();
    eventually("limit-conn counters back to 0", || counters.total() == 0).await;
}

#[tokio::test]
async fn mqtt_proxy_refuses_bad_first_packet_and_pins_client_ids() {
    let backends = [
        Backend::start(b'A').await,
        Backend::start(b'B').await,
        Backend::start(b'C').await,
    ];
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let gw = Gateway::start(
        &[(
            "stream_routes/1",
            json!({"plugins": {"mqtt-proxy": {"protocol_name": "MQTT", "protocol_level": 4}},
                   "upstream": {"nodes": nodes(&addrs), "type": "chash", "key": "mqtt_client_id"}}),
        )],
        false,
    )
    .await;
    assert_eq!(tag_of(gw.addr(), b"GET / HTTP/1.1\r\n\r\n").await.0, None);
    let v5 = apisix_gateway::plugins::mqtt::connect_packet("MQTT", 5, "dev-1");
    assert_eq!(tag_of(gw.addr(), &v5).await.0, None, "wrong protocol level");

    // Sixteen ids: with three nodes on random ports, all of them landing on one node has a
    // chance of 3^-15 (six ids failed about once in 240 runs).
    let mut seen = std::collections::BTreeSet::new();
    for n in 1..=16 {
        let id = format!("dev-{n}");
        let pkt = apisix_gateway::plugins::mqtt::connect_packet("MQTT", 4, &id);
        let first = tag_of(gw.addr(), &pkt)
            .await
            .0
            .expect("valid connect is proxied");
        for _ in 0..3 {
            assert_eq!(
                tag_of(gw.addr(), &pkt).await.0,
                Some(first),
                "client {id} moved"
            );
        }
        seen.insert(first);
    }
    assert!(seen.len() > 1, "client ids spread over nodes: {seen:?}");
}

#[tokio::test]
async fn traffic_split_divides_evenly_between_upstreams() {
    let a = Backend::start(b'A').await;
    let b = Backend::start(b'B').await;
    let gw = Gateway::start(
        &[
            (
                "upstreams/2",
                json!({"nodes": nodes(&[b.addr]), "type": "roundrobin"}),
            ),
            (
                "stream_routes/1",
                json!({"plugins": {"traffic-split": {"rules": [{
                            "match": [{"vars": [["remote_addr", "ipmatch", ["127.0.0.0/8"]]]}],
                            "weighted_upstreams": [{"upstream_id": "2", "weight": 1}, {"weight": 1}]}]}},
                       "upstream": {"nodes": nodes(&[a.addr]), "type": "roundrobin"}}),
            ),
        ],
        false,
    )
    .await;
    let (mut to_a, mut to_b) = (0, 0);
    for _ in 0..400 {
        match tag_of(gw.addr(), b"").await.0 {
            Some(b'A') => to_a += 1,
            Some(b'B') => to_b += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!((180..=220).contains(&to_a), "A got {to_a}, B got {to_b}");
    assert_eq!(to_a + to_b, 400);
}

#[tokio::test]
async fn traffic_split_skips_rule_whose_vars_do_not_match() {
    let a = Backend::start(b'A').await;
    let b = Backend::start(b'B').await;
    let gw = Gateway::start(
        &[(
            "stream_routes/1",
            json!({"plugins": {"traffic-split": {"rules": [{
                        "match": [{"vars": [["remote_addr", "==", "10.9.9.9"]]}],
                        "weighted_upstreams": [{"upstream": {"nodes": nodes(&[b.addr]), "type": "roundrobin"}, "weight": 1}]}]}},
                   "upstream": {"nodes": nodes(&[a.addr]), "type": "roundrobin"}}),
        )],
        false,
    )
    .await;
    for _ in 0..5 {
        assert_eq!(tag_of(gw.addr(), b"").await.0, Some(b'A'));
    }
}
