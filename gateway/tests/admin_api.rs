//! The Admin API over HTTP, in-process: a real server on 127.0.0.1:0 over an in-memory store.
//! Each test checks statuses and exact bodies of APISIX v3 (REFERENCE.md §2) and our
//! documented changes (DESIGN.md §4). Validation messages of `model` are not asserted here,
//! except `missing configurations`, which every version of the check gives for an empty body.

mod admin_support;
#[path = "admin_api/apisix_tools.rs"]
mod apisix_tools;
#[path = "admin_api/edits.rs"]
mod edits;
#[path = "admin_api/extras.rs"]
mod extras;
#[path = "admin_api/lists.rs"]
mod lists;

use admin_support::{Server, ADMIN_KEY, VIEWER_KEY};
use apisix_gateway::config::ProxyMode;
use serde_json::{json, Value};

const UPSTREAM: &str = r#"{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}"#;

/// A valid upstream body.
pub(crate) fn upstream() -> Value {
    serde_json::from_str(UPSTREAM).expect("valid json")
}

// ---------------------------------------------------------------------------------------------
// Authentication and access

#[tokio::test]
async fn missing_wrong_and_viewer_keys_get_apisix_401s_without_api_version() {
    let server = Server::start().await;
    let missing = server
        .raw("GET", "/apisix/admin/upstreams", None, None)
        .await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.text,
        "{\"error_msg\":\"failed to check token\",\"description\":\"missing apikey\"}\n"
    );
    assert_eq!(missing.header("x-api-version"), None);

    let wrong = server
        .raw("GET", "/apisix/admin/upstreams", Some("nope"), None)
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["description"], "wrong apikey");

    let viewer_put = server
        .raw(
            "PUT",
            "/apisix/admin/upstreams/1",
            Some(VIEWER_KEY),
            Some(UPSTREAM.into()),
        )
        .await;
    assert_eq!(viewer_put.status, 401);
    assert_eq!(
        viewer_put.json()["description"],
        "invalid method for role viewer"
    );
    assert!(
        server.store.dump().is_empty(),
        "refused write stored nothing"
    );

    let viewer_get = server
        .raw("GET", "/apisix/admin/upstreams", Some(VIEWER_KEY), None)
        .await;
    assert_eq!(viewer_get.status, 200);
    assert_eq!(viewer_get.header("x-api-version"), Some("v3"));
}

#[tokio::test]
async fn key_is_read_from_query_then_header_then_cookie() {
    let server = Server::start().await;
    let by_query = server
        .raw(
            "GET",
            &format!("/apisix/admin/upstreams?api_key={ADMIN_KEY}"),
            None,
            None,
        )
        .await;
    assert_eq!(by_query.status, 200);

    let by_cookie = server
        .send(
            server
                .request(reqwest::Method::GET, "/apisix/admin/upstreams")
                .header("Cookie", format!("theme=dark; x_api_key={ADMIN_KEY}")),
        )
        .await;
    assert_eq!(by_cookie.status, 200);

    // The query argument wins: a wrong one is refused even with a good header.
    let query_wins = server
        .raw(
            "GET",
            "/apisix/admin/upstreams?api_key=wrong",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(query_wins.status, 401);
    assert_eq!(query_wins.json()["description"], "wrong apikey");
}

#[tokio::test]
async fn no_key_is_checked_when_admin_key_is_not_required() {
    let server = Server::start_with(|c| c.admin.key_required = false).await;
    let answer = server
        .raw("GET", "/apisix/admin/upstreams", None, None)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text, "{\"list\":[],\"total\":0}\n");
}

#[tokio::test]
async fn peer_outside_allow_admin_gets_nginx_403_page() {
    let server = Server::start_with(|c| {
        c.admin.allow_admin = Some(vec!["10.0.0.0/8".parse().expect("cidr")])
    })
    .await;
    let answer = server.call("GET", "/apisix/admin/upstreams", None).await;
    assert_eq!(answer.status, 403);
    assert!(answer
        .text
        .contains("<center><h1>403 Forbidden</h1></center>"));
    assert!(answer
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
}

#[tokio::test]
async fn head_on_admin_root_needs_no_key_and_unknown_paths_get_nginx_404() {
    let server = Server::start().await;
    let head = server.raw("HEAD", "/apisix/admin", None, None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");

    let outside = server.call("GET", "/not-admin", None).await;
    assert_eq!(outside.status, 404);
    assert!(outside.text.contains("404 Not Found"));
}

#[tokio::test]
async fn cors_headers_and_preflight() {
    let server = Server::start().await;
    let answer = server.call("GET", "/apisix/admin/upstreams", None).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    let preflight = server
        .raw("OPTIONS", "/apisix/admin/upstreams", None, None)
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("POST, GET, PUT, OPTIONS, DELETE, PATCH")
    );
}

// ---------------------------------------------------------------------------------------------
// Routing and the common request checks

#[tokio::test]
async fn unknown_resource_is_404_unsupported_resource_type() {
    // `routes` and APISIX's other HTTP-only types are an empty read-only store
    // (admin_api/apisix_tools.rs); any other name is unknown.
    let server = Server::start().await;
    for name in ["bogus", "configs"] {
        let answer = server
            .call("GET", &format!("/apisix/admin/{name}"), None)
            .await;
        assert_eq!(answer.status, 404, "{name}");
        assert_eq!(
            answer.text,
            format!("{{\"error_msg\":\"Unsupported resource type: {name}\"}}\n")
        );
    }
}

#[tokio::test]
async fn stream_route_writes_are_refused_when_stream_mode_is_off_but_reads_work() {
    let server = Server::start_with(|c| c.proxy_mode = ProxyMode::Http).await;
    let body = json!({"server_port": 9100, "upstream": upstream()});
    let put = server
        .call("PUT", "/apisix/admin/stream_routes/1", Some(&body))
        .await;
    assert_eq!(put.status, 400);
    assert_eq!(
        put.text,
        "{\"error_msg\":\"stream mode is disabled, can not add stream routes\"}\n"
    );
    let delete = server
        .call("DELETE", "/apisix/admin/stream_routes/1", None)
        .await;
    assert_eq!(delete.status, 400);

    let get = server
        .call("GET", "/apisix/admin/stream_routes", None)
        .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.json(), json!({"list": [], "total": 0}));
    assert!(server.store.dump().is_empty());
}

#[tokio::test]
async fn body_over_one_and_a_half_mib_is_413() {
    let server = Server::start().await;
    let big = format!(
        "{{\"desc\":\"{}\",\"nodes\":{{\"127.0.0.1:80\":1}}}}",
        "x".repeat(1024 * 1024 * 3 / 2)
    );
    let answer = server
        .raw(
            "PUT",
            "/apisix/admin/upstreams/1",
            Some(ADMIN_KEY),
            Some(big),
        )
        .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.text, "{\"error_msg\":\"request body too large\"}\n");
    assert!(server.store.dump().is_empty());
}

#[tokio::test]
async fn invalid_json_body_is_400_with_the_raw_body() {
    let server = Server::start().await;
    let answer = server
        .raw(
            "PUT",
            "/apisix/admin/upstreams/1",
            Some(ADMIN_KEY),
            Some("{not json".into()),
        )
        .await;
    assert_eq!(answer.status, 400);
    let body = answer.json();
    assert!(body["error_msg"]
        .as_str()
        .expect("string")
        .starts_with("invalid request body: "));
    assert_eq!(body["req_body"], "{not json");
}

#[tokio::test]
async fn non_numeric_ttl_is_400() {
    let server = Server::start().await;
    let answer = server
        .call(
            "PUT",
            "/apisix/admin/upstreams/1?ttl=soon",
            Some(&upstream()),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.text,
        "{\"error_msg\":\"invalid argument ttl: should be a number\"}\n"
    );
}

#[tokio::test]
async fn numeric_ttl_attaches_the_object_to_a_lease() {
    let server = Server::start().await;
    let answer = server
        .call("PUT", "/apisix/admin/upstreams/1?ttl=30", Some(&upstream()))
        .await;
    assert_eq!(answer.status, 201);
    let stored = server.store.dump();
    assert_ne!(stored["/apisix/upstreams/1"].lease, 0);
}

#[tokio::test]
async fn put_without_body_is_missing_configurations() {
    let server = Server::start().await;
    let answer = server.call("PUT", "/apisix/admin/upstreams/1", None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.text, "{\"error_msg\":\"missing configurations\"}\n");
    assert_eq!(answer.header("x-api-version"), Some("v3"));
}

// ---------------------------------------------------------------------------------------------
// Create, read, replace

#[tokio::test]
async fn put_creates_201_then_replaces_200_keeping_create_time() {
    let server = Server::start().await;
    let created = server
        .call("PUT", "/apisix/admin/upstreams/1", Some(&upstream()))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("x-api-version"), Some("v3"));
    assert!(created.text.ends_with("}\n"));
    let body = created.json();
    assert_eq!(body["key"], "/apisix/upstreams/1");
    assert_eq!(body["value"]["id"], "1");
    assert!(body.get("createdIndex").is_none(), "PUT has no indexes");
    let create_time = body["value"]["create_time"].as_i64().expect("create_time");
    assert!(body["value"]["update_time"].as_i64().is_some());

    // Make the stored create_time old, so keeping it is visible.
    let mut stored = server.store.dump()["/apisix/upstreams/1"].value.clone();
    stored["create_time"] = json!(create_time - 1000);
    server.store.seed("/apisix/upstreams/1", stored);

    let replaced = server
        .call("PUT", "/apisix/admin/upstreams/1", Some(&upstream()))
        .await;
    assert_eq!(replaced.status, 200);
    let value = &replaced.json()["value"];
    assert_eq!(value["create_time"], json!(create_time - 1000));
    assert!(value["update_time"].as_i64().expect("update_time") >= create_time);
}

#[tokio::test]
async fn put_on_the_collection_uses_the_body_id() {
    let server = Server::start().await;
    let mut body = upstream();
    body["id"] = json!("up-from-body");
    let answer = server
        .call("PUT", "/apisix/admin/upstreams", Some(&body))
        .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json()["key"], "/apisix/upstreams/up-from-body");
    assert!(server
        .store
        .dump()
        .contains_key("/apisix/upstreams/up-from-body"));
}

#[tokio::test]
async fn put_without_any_id_is_400() {
    let server = Server::start().await;
    let answer = server
        .call("PUT", "/apisix/admin/upstreams", Some(&upstream()))
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.text, "{\"error_msg\":\"missing upstream id\"}\n");
}

#[tokio::test]
async fn post_creates_with_a_20_digit_id() {
    let server = Server::start().await;
    let answer = server
        .call("POST", "/apisix/admin/upstreams", Some(&upstream()))
        .await;
    assert_eq!(answer.status, 201);
    let body = answer.json();
    let id = body["value"]["id"].as_str().expect("string id");
    assert_eq!(id.len(), 20);
    assert!(id.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(body["key"], format!("/apisix/upstreams/{id}"));
}

#[tokio::test]
async fn post_and_patch_on_plugin_metadata_are_405() {
    let server = Server::start().await;
    let body = json!({"log_format": {"host": "$host"}});
    let post = server
        .call("POST", "/apisix/admin/plugin_metadata", Some(&body))
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(
        post.text,
        "{\"error_msg\":\"not supported `POST` method for plugin_metadata\"}\n"
    );
    let put = server
        .call("PUT", "/apisix/admin/plugin_metadata/syslog", Some(&body))
        .await;
    assert_eq!(put.status, 201);
    assert_eq!(put.json()["value"]["id"], "syslog");
    assert!(put.json()["value"].get("create_time").is_none());
}

#[tokio::test]
async fn get_one_has_indexes_and_missing_is_key_not_found() {
    let server = Server::start().await;
    server
        .call("PUT", "/apisix/admin/upstreams/1", Some(&upstream()))
        .await;
    let answer = server.call("GET", "/apisix/admin/upstreams/1", None).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["key"], "/apisix/upstreams/1");
    assert_eq!(body["value"]["type"], "roundrobin");
    let stored = &server.store.dump()["/apisix/upstreams/1"];
    assert_eq!(body["createdIndex"], json!(stored.create_revision));
    assert_eq!(body["modifiedIndex"], json!(stored.mod_revision));

    let missing = server
        .call("GET", "/apisix/admin/upstreams/404", None)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text, "{\"message\":\"Key not found\"}\n");
}

#[tokio::test]
async fn list_hides_placeholders_and_counts_total() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/", json!("init_dir"));
    server.store.seed("/apisix/upstreams/1", upstream());
    server.store.seed("/apisix/upstreams/2", upstream());
    let answer = server.call("GET", "/apisix/admin/upstreams", None).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["total"], 2);
    let keys: Vec<&str> = body["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["/apisix/upstreams/1", "/apisix/upstreams/2"]);
    assert!(body["list"][0]["createdIndex"].is_number());
}

#[tokio::test]
async fn ssl_private_keys_are_never_returned_by_get() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/ssls/1",
        json!({"id": "1", "cert": "CERT", "key": "SECRET", "keys": ["SECRET2"], "snis": ["a.com"]}),
    );
    let one = server.call("GET", "/apisix/admin/ssls/1", None).await;
    assert_eq!(one.status, 200);
    assert!(!one.text.contains("SECRET"));
    assert_eq!(one.json()["value"]["cert"], "CERT");
    let list = server.call("GET", "/apisix/admin/ssls", None).await;
    assert!(!list.text.contains("SECRET"));
    assert_eq!(list.json()["total"], 1);
}
