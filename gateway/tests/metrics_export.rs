//! The Prometheus export server in process: exact counts and bytes after known traffic, the
//! labels APISIX uses, and an exposition that parses.

mod observe_support;

use std::collections::HashMap;

use observe_support::*;
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;

/// The value of `name` with exactly `labels`, if present.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && *s.labels == want)
        .map(|s| match s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// Parses the exposition; every sample line must become a sample (the parser skips lines it
/// does not understand, so count them).
fn parse(text: &str) -> Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = Scrape::parse(lines).expect("exposition parses");
    let sample_lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "every sample line parses:\n{text}"
    );
    assert!(
        !text.contains("# EOF"),
        "the text format (the default) has no # EOF:\n{text}"
    );
    scrape
}

/// Scrapes `/` sending `accept` (none when `None`): the content type and the body.
async fn scrape_accepting(h: &Harness, accept: Option<&str>) -> (String, String) {
    let mut request = h.http.get(format!("http://{}/", h.metrics));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = testkit::wait::within("scrape", request.send())
        .await
        .expect("export server answers");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = testkit::wait::within("scrape body", response.text())
        .await
        .expect("metrics text");
    (content_type, body)
}

#[tokio::test]
async fn a_scraper_without_accept_gets_apisix_text_format_and_openmetrics_only_on_request() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |_| {}).await;
    echo_session("127.0.0.1", h.tcp, b"x").await;
    h.settle(1).await;

    let (content_type, text) = scrape_accepting(&h, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    // Counters keep their names: declared as APISIX declares them, no `unknown` type.
    for declared in [
        "# TYPE apisix_stream_connection_total counter",
        "# TYPE apisix_stream_status counter",
        "# TYPE apisix_stream_bandwidth counter",
        "# TYPE apisix_etcd_reachable gauge",
    ] {
        assert!(text.contains(declared), "{declared} in:\n{text}");
    }
    assert!(!text.contains(" unknown"), "{text}");
    let scrape = parse(&text);
    assert_eq!(
        value(&scrape, "apisix_stream_connection_total", &[("route", "1")]),
        Some(1.0)
    );

    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, open) = scrape_accepting(&h, Some(prometheus)).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE apisix_stream_status unknown"),
        "{open}"
    );
    assert!(
        open.contains("apisix_stream_connection_total{route=\"1\"} 1"),
        "{open}"
    );
}

#[tokio::test]
async fn metrics_after_known_traffic_have_exact_counts_and_bytes() {
    let echo = tcp_echo().await;
    // Only 127.0.0.1 is routed; 127.0.0.2 finds no route.
    let routes = vec![("1", route_to(echo, json!({"remote_addr": "127.0.0.1"})))];
    let h = Harness::start(routes, |_| {}).await;
    echo_session("127.0.0.1", h.tcp, b"hello").await;
    echo_session("127.0.0.1", h.tcp, b"0123456789").await;
    rejected_session("127.0.0.2", h.tcp).await;
    h.settle(3).await;

    let text = h.scrape("/apisix/prometheus/metrics").await;
    let scrape = parse(&text);
    let listen = h.tcp.to_string();
    let node = echo.to_string();
    let get = |name: &str, labels: &[(&str, &str)]| {
        value(&scrape, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"))
    };

    assert_eq!(
        get("apisix_stream_connection_total", &[("route", "1")]),
        2.0
    );
    assert_eq!(get("apisix_stream_connection_total", &[("route", "")]), 1.0);
    let ok = [
        ("code", "200"),
        ("listen_addr", listen.as_str()),
        ("node", node.as_str()),
    ];
    assert_eq!(get("apisix_stream_status", &ok), 2.0);
    let no_route = [
        ("code", "503"),
        ("listen_addr", listen.as_str()),
        ("node", ""),
    ];
    assert_eq!(get("apisix_stream_status", &no_route), 1.0);
    for (ty, side) in [
        ("ingress", "downstream"),
        ("egress", "downstream"),
        ("ingress", "upstream"),
        ("egress", "upstream"),
    ] {
        let labels = [
            ("listen_addr", listen.as_str()),
            ("type", ty),
            ("side", side),
        ];
        assert_eq!(get("apisix_stream_bandwidth", &labels), 15.0, "{ty} {side}");
    }
    assert_eq!(
        get(
            "apisix_stream_active_connections",
            &[("listen_addr", listen.as_str())]
        ),
        0.0
    );
    assert_eq!(get("apisix_etcd_reachable", &[]), 1.0);
    let info = scrape
        .samples
        .iter()
        .find(|s| s.metric == "apisix_node_info")
        .expect("node_info");
    assert_eq!(info.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(info.labels.get("hostname").is_some_and(|h| !h.is_empty()));
    assert!(text.contains("# HELP apisix_stream_connection_total Total number of connections handled per stream route in APISIX"));

    // Every path serves the metrics.
    let again = parse(&h.scrape("/anything").await);
    assert_eq!(
        value(&again, "apisix_stream_connection_total", &[("route", "1")]),
        Some(2.0)
    );
}

#[tokio::test]
async fn live_sessions_count_as_active_and_their_bytes_show_before_they_end() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |_| {}).await;
    let mut stream = connect_from("127.0.0.1", h.tcp).await;
    round_trip(&mut stream, b"abcd").await;
    let listen = h.tcp.to_string();
    let scrape = eventually("live bytes", || async {
        let scrape = parse(&h.scrape("/").await);
        let egress = value(
            &scrape,
            "apisix_stream_bandwidth",
            &[
                ("listen_addr", listen.as_str()),
                ("type", "egress"),
                ("side", "downstream"),
            ],
        );
        (egress == Some(4.0)).then_some(scrape)
    })
    .await;
    assert_eq!(
        value(
            &scrape,
            "apisix_stream_active_connections",
            &[("listen_addr", listen.as_str())]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "apisix_stream_connection_total", &[("route", "1")]),
        None
    );
}

#[tokio::test]
async fn prefer_name_labels_the_route_by_name_and_health_is_exported() {
    let echo = tcp_echo().await;
    let mut body = route_to(
        echo,
        json!({"name": "mysql", "plugins": {"prometheus": {"prefer_name": true}}}),
    );
    body["upstream"]["checks"] = json!({"active": {"type": "tcp"}});
    let h = Harness::start(vec![("7", body)], |c| {
        c.prometheus.metric_prefix = "gw_".into();
    })
    .await;
    assert!(h.snapshot.load().route("7").is_some(), "route loads");
    echo_session("127.0.0.1", h.tcp, b"x").await;
    h.settle(1).await;
    let scrape = parse(&h.scrape("/").await);
    assert_eq!(
        value(&scrape, "gw_stream_connection_total", &[("route", "mysql")]),
        Some(1.0)
    );
    let port = echo.port().to_string();
    let health = [
        ("name", "/apisix/stream_routes/7"),
        ("ip", "127.0.0.1"),
        ("port", port.as_str()),
    ];
    assert_eq!(value(&scrape, "gw_upstream_status", &health), Some(1.0));
}

/// One connection, one snapshot: a route renamed while a connection is open does not relabel
/// that connection's log phase. It was routed with the old version, so its metrics carry the
/// old name; a connection opened after the change carries the new one.
#[tokio::test]
async fn a_connection_is_logged_with_the_configuration_it_was_routed_with() {
    let echo = tcp_echo().await;
    let named = |name: &str| {
        route_to(
            echo,
            json!({"name": name, "plugins": {"prometheus": {"prefer_name": true}}}),
        )
    };
    let h = Harness::start(vec![("7", named("alpha"))], |_| {}).await;
    let mut open = connect_from("127.0.0.1", h.tcp).await;
    assert_eq!(round_trip(&mut open, b"before").await, b"before");

    // The route changes under the open connection.
    let old = std::sync::Arc::downgrade(&h.snapshot.load_full());
    let revision = h.snapshot.load().revision;
    let key = "/apisix/stream_routes/7";
    h.store
        .put(key, &named("beta"), 0)
        .await
        .expect("rename the route");
    eventually("the renamed route is loaded", || async {
        (h.snapshot.load().revision > revision).then_some(())
    })
    .await;
    assert_eq!(round_trip(&mut open, b"after").await, b"after");
    echo_session("127.0.0.1", h.tcp, b"new").await;
    // The open connection kept what its log phase needs, not the whole old snapshot.
    assert!(
        old.upgrade().is_none(),
        "an open connection keeps the old snapshot alive"
    );
    drop(open);
    h.settle(2).await;

    let scrape = parse(&h.scrape("/apisix/prometheus/metrics").await);
    let count = |name| {
        value(
            &scrape,
            "apisix_stream_connection_total",
            &[("route", name)],
        )
    };
    assert_eq!(
        count("alpha"),
        Some(1.0),
        "the open connection: old version"
    );
    assert_eq!(count("beta"), Some(1.0), "the new connection: new version");
}
