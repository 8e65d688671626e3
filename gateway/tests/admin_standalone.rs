//! API-driven standalone mode (`role: traditional` + `config_provider: yaml`), in-process:
//! the Admin API serves only `/apisix/admin/configs` (GET, PUT, HEAD) and
//! `/apisix/admin/configs/validate` (POST) over the in-memory standalone store, with APISIX's
//! statuses, headers and texts (`admin/standalone.lua`), and the store the data plane
//! watches follows every accepted PUT.

mod admin_support;

use std::sync::Arc;

use admin_support::{serve_admin, test_config, Answer, ADMIN_KEY};
use apisix_gateway::config::{ConfigProvider, Role};
use apisix_gateway::store::yaml::YamlStore;
use apisix_gateway::store::{Store, WatchEvent};
use serde_json::{json, Value};
use tokio::sync::oneshot;

struct Standalone {
    base: String,
    store: Arc<YamlStore>,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Standalone {
    async fn start() -> Standalone {
        let mut config = test_config(std::env::temp_dir().join("apisix-standalone-tests"));
        config.deployment.role = Role::Traditional;
        config.deployment.config_provider = ConfigProvider::Yaml;
        let store = Arc::new(YamlStore::api_driven("/apisix"));
        let running = serve_admin(config, store.clone()).await;
        Standalone {
            base: running.base,
            store,
            client: running.client,
            _stop: running.stop,
        }
    }

    /// `method path` with the admin key, extra headers and an optional raw body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-API-KEY", ADMIN_KEY);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("answered");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    async fn put(&self, digest: &str, doc: &Value) -> Answer {
        let body = doc.to_string();
        self.send(
            "PUT",
            "/apisix/admin/configs",
            &[("X-Digest", digest)],
            Some(&body),
        )
        .await
    }

    async fn get(&self) -> Answer {
        self.send("GET", "/apisix/admin/configs", &[], None).await
    }

    async fn keys(&self) -> Vec<String> {
        let (items, _) = self.store.list("/apisix/").await.expect("list");
        items.into_iter().map(|kv| kv.key).collect()
    }
}

fn upstream(id: Value, port: u16) -> Value {
    json!({"id": id, "type": "roundrobin", "nodes": {format!("127.0.0.1:{port}"): 1}})
}

fn route(id: Value, port: u16, upstream_id: &str) -> Value {
    json!({"id": id, "server_port": port, "upstream_id": upstream_id})
}

#[tokio::test]
async fn before_any_put_get_shows_every_conf_version_at_zero_without_metadata() {
    let s = Standalone::start().await;
    let answer = s.get().await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert_eq!(doc["stream_routes_conf_version"], 0);
    assert_eq!(doc["upstreams_conf_version"], 0);
    assert_eq!(doc["routes_conf_version"], 0);
    assert!(doc.get("stream_routes").is_none());
    assert!(answer.header("X-Digest").is_none());
    let head = s.send("HEAD", "/apisix/admin/configs", &[], None).await;
    assert_eq!(head.status, 200);
    assert!(head.header("X-Digest").is_none());
}

#[tokio::test]
async fn a_put_is_applied_and_served_back_with_its_digest() {
    let s = Standalone::start().await;
    let mut events = s.store.watch("/apisix/").await.expect("watch");
    let first = events.recv().await;
    assert!(matches!(first, Some(WatchEvent::Snapshot { ref items, .. }) if items.is_empty()));

    let doc = json!({
        "stream_routes": [route(json!(1), 9100, "u1")],
        "upstreams": [upstream(json!("u1"), 1995)],
    });
    let answer = s.put("digest-1", &doc).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.text, "");
    assert_eq!(answer.header("X-Digest"), Some("digest-1"));
    let modified: i64 = answer
        .header("X-Last-Modified")
        .expect("X-Last-Modified")
        .parse()
        .expect("unix seconds");
    assert!(modified > 1_700_000_000);

    // The data plane sees the new contents.
    match events.recv().await {
        Some(WatchEvent::Snapshot { items, .. }) => assert_eq!(items.len(), 2),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    assert_eq!(
        s.keys().await,
        ["/apisix/stream_routes/1", "/apisix/upstreams/u1"]
    );

    let got = s.get().await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("X-Digest"), Some("digest-1"));
    let body = got.json();
    assert_eq!(body["stream_routes"], doc["stream_routes"]);
    assert_eq!(body["stream_routes_conf_version"], 1);
    assert_eq!(body["upstreams_conf_version"], 1);
    assert_eq!(body["X-Digest"], "digest-1");
    let head = s.send("HEAD", "/apisix/admin/configs", &[], None).await;
    assert_eq!((head.status, head.text.as_str()), (200, ""));
    assert_eq!(head.header("X-Digest"), Some("digest-1"));

    // The same digest again: 204, nothing changes even with another body.
    let same = s.put("digest-1", &json!({})).await;
    assert_eq!((same.status, same.text.as_str()), (204, ""));
    assert_eq!(s.keys().await.len(), 2);
}

#[tokio::test]
async fn bad_requests_get_apisix_texts_and_change_nothing() {
    let s = Standalone::start().await;
    let good = json!({"upstreams": [upstream(json!(1), 1995)]});
    assert_eq!(s.put("d0", &good).await.status, 202);

    let no_digest = s
        .send("PUT", "/apisix/admin/configs", &[], Some("{}"))
        .await;
    assert_eq!(
        (no_digest.status, no_digest.json()),
        (400, json!({"error_msg": "missing digest header"}))
    );
    let empty = s
        .send("PUT", "/apisix/admin/configs", &[("X-Digest", "d1")], None)
        .await;
    assert_eq!(
        (empty.status, empty.json()),
        (
            400,
            json!({"error_msg": "invalid request body: empty request body"})
        )
    );
    let bad_json = s
        .send(
            "PUT",
            "/apisix/admin/configs",
            &[("X-Digest", "d1")],
            Some("{"),
        )
        .await;
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["error_msg"]
        .as_str()
        .is_some_and(|m| m.starts_with("invalid request body: ")));
    let bad_yaml = s
        .send(
            "PUT",
            "/apisix/admin/configs",
            &[("X-Digest", "d1"), ("Content-Type", "application/yaml")],
            Some("- just a list\n"),
        )
        .await;
    assert_eq!(
        (bad_yaml.status, bad_yaml.json()),
        (
            400,
            json!({"error_msg": "invalid request body: invalid yaml request body"})
        )
    );

    // An invalid item: the checker's text, nothing applied.
    let invalid = json!({
        "upstreams": [upstream(json!(5), 1995)],
        "stream_routes": [{"id": 2, "server_port": 9100, "plugins": {"x-rewrite": {}}}],
    });
    let answer = s.put("d2", &invalid).await;
    assert_eq!(answer.status, 400);
    let message = answer.json()["error_msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("x-rewrite"),
        "the checker names the problem: {message}"
    );

    let duplicate = json!({"upstreams": [upstream(json!(1), 1995), upstream(json!(1), 1996)]});
    let answer = s.put("d3", &duplicate).await;
    assert_eq!(
        (answer.status, answer.json()),
        (
            400,
            json!({"error_msg": "found duplicate id 1 in upstreams"})
        )
    );
    let not_a_number = json!({"upstreams_conf_version": "7"});
    let answer = s.put("d4", &not_a_number).await;
    assert_eq!(
        (answer.status, answer.json()),
        (
            400,
            json!({"error_msg": "upstreams_conf_version must be a number"})
        )
    );

    let got = s.get().await;
    assert_eq!(got.header("X-Digest"), Some("d0"));
    assert_eq!(s.keys().await, ["/apisix/upstreams/1"]);
}

#[tokio::test]
async fn conf_versions_higher_replaces_equal_keeps_lower_is_refused() {
    let s = Standalone::start().await;
    let v1 = json!({
        "stream_routes": [route(json!(1), 9100, "1")],
        "upstreams": [upstream(json!(1), 1995)],
        "stream_routes_conf_version": 5,
        "upstreams_conf_version": 5,
    });
    assert_eq!(s.put("a", &v1).await.status, 202);

    // upstreams: equal version → kept as before although the body has another upstream;
    // stream_routes: no version → current + 1, replaced (here: emptied).
    let v2 = json!({"upstreams": [upstream(json!(2), 1996)], "upstreams_conf_version": 5});
    assert_eq!(s.put("b", &v2).await.status, 202);
    let doc = s.get().await.json();
    assert_eq!(doc["upstreams"], v1["upstreams"]);
    assert_eq!(doc["upstreams_conf_version"], 5);
    assert_eq!(doc["stream_routes_conf_version"], 6);
    assert!(doc.get("stream_routes").is_none());
    assert_eq!(s.keys().await, ["/apisix/upstreams/1"]);

    // Lower than in force → 400 with APISIX's text.
    let v3 = json!({"stream_routes_conf_version": 2});
    let answer = s.put("c", &v3).await;
    assert_eq!(
        (answer.status, answer.json()),
        (
            400,
            json!({"error_msg": "stream_routes_conf_version must be greater than or equal to (6)"})
        )
    );

    // Higher → replaced.
    let v4 = json!({"upstreams": [upstream(json!(3), 1997)], "upstreams_conf_version": 9});
    assert_eq!(s.put("d", &v4).await.status, 202);
    assert_eq!(s.keys().await, ["/apisix/upstreams/3"]);
}

#[tokio::test]
async fn yaml_in_and_out() {
    let s = Standalone::start().await;
    let body =
        "upstreams:\n  - id: 1\n    type: roundrobin\n    nodes:\n      \"127.0.0.1:1995\": 1\n";
    let answer = s
        .send(
            "PUT",
            "/apisix/admin/configs",
            &[("X-Digest", "y1"), ("Content-Type", "application/yaml")],
            Some(body),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(s.keys().await, ["/apisix/upstreams/1"]);
    let got = s
        .send(
            "GET",
            "/apisix/admin/configs",
            &[("Accept", "application/yaml")],
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/yaml"));
    let parsed: serde_norway::Value = serde_norway::from_str(&got.text).expect("yaml body");
    assert_eq!(
        parsed["upstreams_conf_version"],
        serde_norway::Value::from(1)
    );
    assert_eq!(parsed["X-Digest"], serde_norway::Value::from("y1"));
}

#[tokio::test]
async fn validate_lists_every_problem_and_changes_nothing() {
    let s = Standalone::start().await;
    let ok = s
        .send(
            "POST",
            "/apisix/admin/configs/validate",
            &[],
            Some(&json!({"upstreams": [upstream(json!(1), 1995)]}).to_string()),
        )
        .await;
    assert_eq!((ok.status, ok.json()), (200, json!({})));

    let bad = json!({
        "upstreams": [upstream(json!(1), 1995), {"id": 2, "nodes": "none"}],
        "stream_routes_conf_version": true,
    });
    let answer = s
        .send(
            "POST",
            "/apisix/admin/configs/validate",
            &[],
            Some(&bad.to_string()),
        )
        .await;
    assert_eq!(answer.status, 400);
    let body = answer.json();
    assert_eq!(body["error_msg"], "Configuration validation failed");
    let errors = body["errors"].as_array().expect("errors list");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e["resource_type"] == "stream_routes"
        && e["error"] == "stream_routes_conf_version must be a number, got boolean"));
    assert!(errors
        .iter()
        .any(|e| e["resource_type"] == "upstreams" && e["index"] == 1 && e["resource_id"] == 2));
    assert!(s.keys().await.is_empty());

    let empty = s
        .send("POST", "/apisix/admin/configs/validate", &[], None)
        .await;
    assert_eq!(
        (empty.status, empty.json()),
        (
            400,
            json!({"error_msg": "invalid request body: empty request body"})
        )
    );
}

#[tokio::test]
async fn other_admin_paths_are_not_found_and_the_key_is_checked() {
    let s = Standalone::start().await;
    for (method, path) in [
        ("GET", "/apisix/admin/stream_routes"),
        ("PUT", "/apisix/admin/upstreams/1"),
        ("POST", "/apisix/admin/configs"),
        ("DELETE", "/apisix/admin/configs"),
        ("GET", "/apisix/admin/configs/validate"),
        ("GET", "/apisix/admin/plugins/list"),
    ] {
        let answer = s.send(method, path, &[], Some("{}")).await;
        assert_eq!(answer.status, 404, "{method} {path}");
        assert!(
            answer.text.contains("<h1>404 Not Found</h1>"),
            "{method} {path}: nginx's page, got {:?}",
            answer.text
        );
    }
    let head = s.send("HEAD", "/apisix/admin", &[], None).await;
    assert_eq!(head.status, 200);

    let anonymous = s
        .client
        .get(format!("{}/apisix/admin/configs", s.base))
        .send()
        .await
        .expect("answered");
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error_msg": "failed to check token", "description": "missing apikey"})
    );
}
