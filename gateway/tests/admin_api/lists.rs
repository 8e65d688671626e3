//! List parameters: paging, `name=`, `label=`, `filter=`.

use serde_json::{json, Value};

use crate::admin_support::Server;

fn keys(body: &Value) -> Vec<String> {
    body["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item["key"].as_str().expect("key").to_owned())
        .collect()
}

#[tokio::test]
async fn page_size_out_of_range_is_a_plain_text_400() {
    let server = Server::start().await;
    for size in ["9", "501"] {
        let answer = server
            .call(
                "GET",
                &format!("/apisix/admin/upstreams?page=1&page_size={size}"),
                None,
            )
            .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.text, "page_size must be between 10 and 500");
    }
}

#[tokio::test]
async fn paging_sorts_by_created_index_and_total_is_before_paging() {
    let server = Server::start().await;
    // Created in reverse key order: 15 first, 1 last.
    for i in (1..=15).rev() {
        server.store.seed(
            &format!("/apisix/upstreams/{i:02}"),
            json!({"id": format!("{i:02}")}),
        );
    }
    let page2 = server
        .call("GET", "/apisix/admin/upstreams?page=2&page_size=10", None)
        .await;
    assert_eq!(page2.status, 200);
    let body = page2.json();
    assert_eq!(body["total"], 15);
    assert_eq!(
        keys(&body),
        ["05", "04", "03", "02", "01"].map(|id| format!("/apisix/upstreams/{id}"))
    );

    // Only one of the two parameters: no paging at all.
    let unpaged = server
        .call("GET", "/apisix/admin/upstreams?page_size=10", None)
        .await;
    assert_eq!(keys(&unpaged.json()).len(), 15);
}

#[tokio::test]
async fn name_and_label_filters_select_objects() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/upstreams/1",
        json!({"id": "1", "name": "mqtt-broker", "labels": {"env": "prod"}}),
    );
    server.store.seed(
        "/apisix/upstreams/2",
        json!({"id": "2", "name": "redis", "labels": {"team": "a"}}),
    );
    server.store.seed(
        "/apisix/upstreams/3",
        json!({"id": "3", "labels": {"env": "dev"}}),
    );

    let by_name = server
        .call("GET", "/apisix/admin/upstreams?name=%5Emqtt", None)
        .await;
    assert_eq!(keys(&by_name.json()), ["/apisix/upstreams/1"]);
    assert_eq!(by_name.json()["total"], 1);

    let by_label = server
        .call("GET", "/apisix/admin/upstreams?label=env", None)
        .await;
    assert_eq!(
        keys(&by_label.json()),
        ["/apisix/upstreams/1", "/apisix/upstreams/3"]
    );

    let empty_label = server
        .call("GET", "/apisix/admin/upstreams?label=", None)
        .await;
    assert_eq!(empty_label.json()["total"], 3);
}

#[tokio::test]
async fn filter_selects_stream_routes_by_service_and_upstream_id() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/stream_routes/1",
        json!({"id": "1", "upstream_id": "u1"}),
    );
    server.store.seed(
        "/apisix/stream_routes/2",
        json!({"id": "2", "service_id": 7, "upstream_id": "u2"}),
    );
    // filter=service_id=7 (url-encoded once more inside the query)
    let by_service = server
        .call(
            "GET",
            "/apisix/admin/stream_routes?filter=service_id%3D7",
            None,
        )
        .await;
    assert_eq!(keys(&by_service.json()), ["/apisix/stream_routes/2"]);

    let by_both = server
        .call(
            "GET",
            "/apisix/admin/stream_routes?filter=service_id%3D7%26upstream_id%3Du1",
            None,
        )
        .await;
    assert_eq!(by_both.json()["total"], 0);

    // Unknown fields are ignored.
    let unknown = server
        .call("GET", "/apisix/admin/stream_routes?filter=desc%3Dx", None)
        .await;
    assert_eq!(unknown.json()["total"], 2);
}
