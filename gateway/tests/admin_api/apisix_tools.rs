//! What APISIX's own tools (ADC first) need from the Admin API besides the stream resources:
//! APISIX's HTTP-only resources as an empty, read-only store, `POST
//! /apisix/admin/configs/validate` in the normal mode, and the APISIX version in `Server`.

use serde_json::{json, Value};

use crate::admin_support::{Server, VIEWER_KEY};
use crate::upstream;

const HTTP_ONLY: [&str; 8] = [
    "routes",
    "consumers",
    "consumer_groups",
    "plugin_configs",
    "global_rules",
    "protos",
    "secrets",
    "credentials",
];

const VALIDATE: &str = "/apisix/admin/configs/validate";

fn refusal(name: &str) -> String {
    format!(
        "{{\"error_msg\":\"this gateway proxies L4 (TCP/UDP) only and does not store {name}\"}}\n"
    )
}

#[tokio::test]
async fn http_only_resource_lists_are_empty() {
    let server = Server::start().await;
    for name in HTTP_ONLY {
        let answer = server
            .call("GET", &format!("/apisix/admin/{name}"), None)
            .await;
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(answer.text, "{\"list\":[],\"total\":0}\n", "{name}");
        assert_eq!(answer.header("x-api-version"), Some("v3"), "{name}");
    }
}

#[tokio::test]
async fn one_http_only_object_is_key_not_found() {
    let server = Server::start().await;
    for path in [
        "/apisix/admin/routes/1",
        "/apisix/admin/consumers/jack",
        "/apisix/admin/consumers/jack/credentials",
        "/apisix/admin/consumers/jack/credentials/cred-1",
        "/apisix/admin/secrets/vault/1",
        "/apisix/admin/global_rules/1",
    ] {
        let answer = server.call("GET", path, None).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.text, "{\"message\":\"Key not found\"}\n", "{path}");
    }
}

#[tokio::test]
async fn http_only_writes_are_refused_and_store_nothing() {
    let server = Server::start().await;
    let body = json!({"uri": "/", "upstream": upstream()});
    for name in HTTP_ONLY {
        for (method, path) in [
            ("PUT", format!("/apisix/admin/{name}/1")),
            ("PUT", format!("/apisix/admin/{name}")),
            ("POST", format!("/apisix/admin/{name}")),
            ("PATCH", format!("/apisix/admin/{name}/1")),
            ("DELETE", format!("/apisix/admin/{name}/1")),
        ] {
            let answer = server.call(method, &path, Some(&body)).await;
            assert_eq!(answer.status, 400, "{method} {path}");
            assert_eq!(answer.text, refusal(name), "{method} {path}");
        }
    }
    let credential = server
        .call(
            "PUT",
            "/apisix/admin/consumers/jack/credentials/c1",
            Some(&json!({"plugins": {"key-auth": {"key": "k"}}})),
        )
        .await;
    assert_eq!(
        (credential.status, credential.text),
        (400, refusal("consumers"))
    );
    assert!(server.store.dump().is_empty());
    assert_eq!(server.store.revision(), 0, "nothing was written");
}

#[tokio::test]
async fn http_only_resources_check_keys_and_roles_like_the_others() {
    let server = Server::start().await;
    let anonymous = server.raw("GET", "/apisix/admin/routes", None, None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["description"], "missing apikey");

    let viewer_get = server
        .raw("GET", "/apisix/admin/routes", Some(VIEWER_KEY), None)
        .await;
    assert_eq!(viewer_get.status, 200);
    let viewer_put = server
        .raw(
            "PUT",
            "/apisix/admin/routes/1",
            Some(VIEWER_KEY),
            Some("{}".into()),
        )
        .await;
    assert_eq!(viewer_put.status, 401);
    assert_eq!(
        viewer_put.json()["description"],
        "invalid method for role viewer"
    );
    let viewer_validate = server
        .raw("POST", VALIDATE, Some(VIEWER_KEY), Some("{}".into()))
        .await;
    assert_eq!(viewer_validate.status, 401);
}

#[tokio::test]
async fn peer_outside_allow_admin_gets_403_on_http_only_resources_and_validate() {
    let server = Server::start_with(|c| {
        c.admin.allow_admin = Some(vec!["10.0.0.0/8".parse().expect("cidr")])
    })
    .await;
    let list = server.call("GET", "/apisix/admin/routes", None).await;
    assert_eq!(list.status, 403);
    let validate = server.call("POST", VALIDATE, Some(&json!({}))).await;
    assert_eq!(validate.status, 403);
}

/// The body ADC's `validate` posts: every type it knows, empty ones as `[]`.
fn adc_validate_body(stream_routes: Value, upstreams: Value) -> Value {
    json!({
        "routes": [],
        "services": [{
            "id": "3d0c84fb6d9bd3d5f3b4a1c5a1e9f0b2c3d4e5f6",
            "name": "echo",
            "upstream_id": "3d0c84fb6d9bd3d5f3b4a1c5a1e9f0b2c3d4e5f6",
        }],
        "consumers": [],
        "ssls": [],
        "global_rules": [],
        "stream_routes": stream_routes,
        "plugin_metadata": [],
        "upstreams": upstreams,
    })
}

#[tokio::test]
async fn configs_validate_accepts_a_valid_stream_configuration_and_changes_nothing() {
    let server = Server::start().await;
    let body = adc_validate_body(
        // ADC sends stream routes without an id (its transform sets `id: undefined`).
        json!([{
            "labels": {"__ADC_NAME": "echo-tcp"},
            "server_port": 9100,
            "service_id": "3d0c84fb6d9bd3d5f3b4a1c5a1e9f0b2c3d4e5f6",
        }]),
        json!([{
            "id": "3d0c84fb6d9bd3d5f3b4a1c5a1e9f0b2c3d4e5f6",
            "name": "echo",
            "type": "roundrobin",
            "nodes": [{"host": "127.0.0.1", "port": 7001, "weight": 1}],
        }]),
    );
    let answer = server.call("POST", VALIDATE, Some(&body)).await;
    assert_eq!((answer.status, answer.text.as_str()), (200, "{}\n"));
    assert!(server.store.dump().is_empty());

    let yaml = server
        .send(
            server
                .request(reqwest::Method::POST, VALIDATE)
                .header("X-API-KEY", crate::admin_support::ADMIN_KEY)
                .header("Content-Type", "application/yaml")
                .body("upstreams:\n  - id: 1\n    type: roundrobin\n    nodes:\n      \"127.0.0.1:7001\": 1\n"),
        )
        .await;
    assert_eq!((yaml.status, yaml.text.as_str()), (200, "{}\n"));
}

#[tokio::test]
async fn configs_validate_lists_every_problem_with_apisix_shape() {
    let server = Server::start().await;
    let mut body = adc_validate_body(
        json!([{"id": "r1", "server_port": 0}]),
        json!([{"id": "u1", "type": "roundrobin", "nodes": "none"}]),
    );
    body["routes"] = json!([{"id": "h1", "uri": "/"}]);
    body["consumers"] = json!([{"username": "jack"}]);
    let answer = server.call("POST", VALIDATE, Some(&body)).await;
    assert_eq!(answer.status, 400);
    let got = answer.json();
    assert_eq!(got["error_msg"], "Configuration validation failed");
    let errors = got["errors"].as_array().expect("errors");
    let mut kinds: Vec<&str> = errors
        .iter()
        .map(|e| e["resource_type"].as_str().expect("resource_type"))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["consumers", "routes", "stream_routes", "upstreams"],
        "{errors:?}"
    );
    let http_only = |kind: &str| {
        errors
            .iter()
            .find(|e| e["resource_type"] == kind)
            .cloned()
            .expect("entry")
    };
    assert_eq!(
        http_only("routes"),
        json!({
            "resource_type": "routes", "resource_id": "h1", "index": 0,
            "error": "this gateway proxies L4 (TCP/UDP) only and does not store routes",
        })
    );
    assert_eq!(http_only("consumers")["resource_id"], "jack");
    let upstream = http_only("upstreams");
    assert_eq!(
        (upstream["index"].clone(), upstream["resource_id"].clone()),
        (json!(0), json!("u1"))
    );
    assert!(upstream["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("invalid configuration: ")));
    assert!(server.store.dump().is_empty());
}

#[tokio::test]
async fn configs_validate_refuses_an_empty_or_unparsable_body() {
    let server = Server::start().await;
    let empty = server
        .raw(
            "POST",
            VALIDATE,
            Some(crate::admin_support::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(
        (empty.status, empty.text.as_str()),
        (
            400,
            "{\"error_msg\":\"invalid request body: empty request body\"}\n"
        )
    );
    let broken = server
        .raw(
            "POST",
            VALIDATE,
            Some(crate::admin_support::ADMIN_KEY),
            Some("{".into()),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(broken.json()["error_msg"]
        .as_str()
        .is_some_and(|e| e.starts_with("invalid request body: ")));
}

#[tokio::test]
async fn server_header_gives_adc_the_apisix_version_we_match() {
    let server = Server::start().await;
    let answer = server.call("GET", "/apisix/admin/routes", None).await;
    let header = answer.header("server").expect("a Server header");
    assert_eq!(
        header,
        format!(
            "APISIX/3.18.0 (apisix-gateway/{})",
            env!("CARGO_PKG_VERSION")
        )
    );
    // ADC: `server.match(/APISIX\/(.*)/)`, then `semver.coerce` of the capture.
    let capture = header.split_once("APISIX/").map(|(_, rest)| rest);
    let coerced = capture.and_then(|rest| rest.split_whitespace().next());
    assert_eq!(coerced, Some("3.18.0"));
    let unauthorized = server.raw("GET", "/apisix/admin/routes", None, None).await;
    assert_eq!(unauthorized.header("server"), Some(header));
}
