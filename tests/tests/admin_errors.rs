//! Admin API: every rejected request (REFERENCE.md §2) gets APISIX's status and body, and
//! leaves the store exactly as it was (the stored lists, with their indexes, are compared
//! before and after each request). All cases run against one gateway; every mismatch is
//! collected and reported together.

use e2e::gateway::{check_reply, Expect, Gateway, KeyAuth, TEST_ADMIN_KEY, TEST_VIEWER_KEY};
use reqwest::Method;
use serde_json::{json, Value};

/// One rejected request.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    auth: KeyAuth,
    status: u16,
    expect: Expect,
}

fn case(name: &'static str, method: Method, path: &str, body: Option<Value>) -> Case {
    Case {
        name,
        method,
        path: path.to_string(),
        body: body.map(|b| b.to_string().into_bytes()),
        auth: KeyAuth::Header(TEST_ADMIN_KEY.to_string()),
        status: 400,
        expect: Expect::Status,
    }
}

impl Case {
    fn raw(mut self, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        self
    }
    fn auth(mut self, auth: KeyAuth) -> Self {
        self.auth = auth;
        self
    }
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    fn error(mut self, status: u16, msg: &str) -> Self {
        self.status = status;
        self.expect = Expect::ErrorMsg(msg.to_string());
        self
    }
    fn json(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.expect = Expect::Json(body);
        self
    }
    fn text(mut self, status: u16, text: &str) -> Self {
        self.status = status;
        self.expect = Expect::Text(text.to_string());
        self
    }
}

/// A valid inline upstream in APISIX's format.
fn upstream() -> Value {
    json!({"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}})
}

fn route_with(extra: Value) -> Value {
    let mut route = json!({"remote_addr": "127.0.0.1", "upstream": upstream()});
    if let (Some(route), Some(extra)) = (route.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            route.insert(k.clone(), v.clone());
        }
    }
    route
}

fn cases() -> Vec<Case> {
    let put = |name, path: &str, body| case(name, Method::PUT, path, Some(body));
    let r2 = "/stream_routes/2";
    let big = format!(r#"{{"desc":"{}"}}"#, "x".repeat(1_600_000));
    vec![
        put("no key", r2, route_with(json!({})))
            .auth(KeyAuth::None)
            .json(401, json!({"error_msg": "failed to check token", "description": "missing apikey"})),
        put("wrong key", r2, route_with(json!({})))
            .auth(KeyAuth::Header("not-the-key".into()))
            .json(401, json!({"error_msg": "failed to check token", "description": "wrong apikey"})),
        put("viewer PUT", r2, route_with(json!({})))
            .auth(KeyAuth::Header(TEST_VIEWER_KEY.into()))
            .json(401, json!({"error_msg": "failed to check token", "description": "invalid method for role viewer"})),
        case("viewer DELETE", Method::DELETE, "/stream_routes/1", None)
            .auth(KeyAuth::Header(TEST_VIEWER_KEY.into()))
            .status(401),
        case("wrong key in query", Method::DELETE, "/stream_routes/1", None)
            .auth(KeyAuth::Query("nope".into()))
            .status(401),
        case("unknown resource", Method::GET, "/foo", None)
            .json(404, json!({"error_msg": "Unsupported resource type: foo"})),
        case("bad JSON", Method::PUT, r2, None).raw(br#"{"remote_addr":"#).status(400),
        case("no body", Method::PUT, r2, None).error(400, "missing configurations"),
        put("PUT without any id", "/stream_routes", route_with(json!({})))
            .error(400, "missing stream route id"),
        put("path id differs from body id", r2, route_with(json!({"id": "3"})))
            .error(400, "wrong stream route id"),
        case("POST with a path id", Method::POST, r2, Some(route_with(json!({}))))
            .error(400, "wrong stream route id, do not need it"),
        case("POST with a body id", Method::POST, "/stream_routes", Some(route_with(json!({"id": "9"}))))
            .error(400, "wrong stream route id, do not need it"),
        put("create_time in body", r2, route_with(json!({"create_time": 1})))
            .error(400, "the property is forbidden:  create_time"),
        put("update_time in inline upstream", r2, route_with(json!({"upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}, "update_time": 1}})))
            .error(400, "the property is forbidden:  upstream.update_time"),
        put("server_port 0", r2, route_with(json!({"server_port": 0})))
            .error(400, r#"invalid configuration: property "server_port" validation failed: expected 0 to be at least 1"#),
        put("server_port 70000", r2, route_with(json!({"server_port": 70000})))
            .error(400, r#"invalid configuration: property "server_port" validation failed: expected 70000 to be at most 65535"#),
        put("HTTP field uri", r2, route_with(json!({"uri": "/hello"})))
            .error(400, "invalid configuration: additional properties forbidden, found uri"),
        put("remote_addr :/8", r2, route_with(json!({"remote_addr": ":/8"})))
            .error(400, "invalid remote_addr: :/8"),
        put("server_addr :/8", r2, route_with(json!({"server_addr": ":/8"})))
            .error(400, "invalid server_addr: :/8"),
        put("negative retries", r2, route_with(json!({"upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}, "retries": -1}})))
            .error(400, r#"invalid configuration: property "upstream" validation failed: property "retries" validation failed: expected -1 to be at least 0"#),
        put("timeout without read", r2, route_with(json!({"upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}, "timeout": {"connect": 1, "send": 1}}})))
            .error(400, r#"invalid configuration: property "upstream" validation failed: property "timeout" validation failed: property "read" is required"#),
        put("missing upstream_id", r2, json!({"upstream_id": "nope"}))
            .error(400, "failed to fetch upstream info by upstream id [nope], response code: 404"),
        put("missing service_id", r2, json!({"service_id": "nope"}))
            .error(400, "failed to fetch service info by service id [nope], response code: 404"),
        put("unknown plugin", r2, route_with(json!({"plugins": {"mqttt-proxy": {}}})))
            .error(400, "unknown plugin [mqttt-proxy]"),
        put("ip-restriction without lists", r2, route_with(json!({"plugins": {"ip-restriction": {}}})))
            .error(400, "failed to check the configuration of stream plugin [ip-restriction]: value should match only one schema, but matches none"),
        put("ip-restriction entry failing the schema", r2, route_with(json!({"plugins": {"ip-restriction": {"whitelist": ["not-an-ip"]}}})))
            .error(400, r#"failed to check the configuration of stream plugin [ip-restriction]: property "whitelist" validation failed: failed to validate item 1: object matches none of the required"#),
        // ":/8" passes the schema's IPv6 CIDR pattern; the real IP parser rejects it.
        put("ip-restriction entry failing the IP parser", r2, route_with(json!({"plugins": {"ip-restriction": {"blacklist": [":/8"]}}})))
            .error(400, "failed to check the configuration of stream plugin [ip-restriction]: invalid ip address: :/8"),
        put("invalid string id", "/stream_routes/*invalid", route_with(json!({}))).status(400),
        case("PATCH a stream route", Method::PATCH, "/stream_routes/1", Some(json!({"desc": "x"})))
            .error(405, "not supported `PATCH` method for stream route"),
        case("GET a missing route", Method::GET, "/stream_routes/404", None)
            .json(404, json!({"message": "Key not found"})),
        case("DELETE a missing route", Method::DELETE, "/stream_routes/404", None)
            .json(404, json!({"message": "Key not found"})),
        case("PATCH a missing upstream", Method::PATCH, "/upstreams/404", Some(json!({"desc": "x"})))
            .json(404, json!({"message": "Key not found"})),
        case("DELETE an upstream in use", Method::DELETE, "/upstreams/1", None)
            .error(400, "can not delete this upstream, stream_route [1] is still using it now"),
        case("DELETE an upstream in use, force=false", Method::DELETE, "/upstreams/1?force=false", None)
            .error(400, "can not delete this upstream, stream_route [1] is still using it now"),
        case("DELETE a service in use", Method::DELETE, "/services/s1", None)
            .error(400, "can not delete this service directly, stream_route [svc] is still using it now"),
        put("ttl not a number", "/upstreams/2?ttl=abc", upstream())
            .error(400, "invalid argument ttl: should be a number"),
        case("page_size 5", Method::GET, "/stream_routes?page=1&page_size=5", None)
            .text(400, "page_size must be between 10 and 500"),
        case("page_size 501", Method::GET, "/stream_routes?page=1&page_size=501", None)
            .text(400, "page_size must be between 10 and 500"),
        put("passive-only checks", "/upstreams/2", json!({"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}, "checks": {"passive": {"type": "tcp"}}}))
            .error(400, r#"invalid configuration: property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]"#),
        put("chash without key", "/upstreams/2", json!({"type": "chash", "nodes": {"127.0.0.1:1995": 1}}))
            .error(400, "missing key"),
        put("hash node port 70000", "/upstreams/2", json!({"type": "roundrobin", "nodes": {"127.0.0.1:70000": 1}}))
            .error(400, "invalid port 70000"),
        put("IPv6 node without brackets", "/upstreams/2", json!({"type": "roundrobin", "nodes": [{"host": "::1", "port": 80, "weight": 1}]}))
            .error(400, "invalid configuration: IPv6 address must be enclosed with '[' and ']'"),
        case("body over 1.5 MiB", Method::PUT, r2, None).raw(big.as_bytes()).status(413),
        case("bad plugin subsystem", Method::GET, "/plugins/list?subsystem=foo", None)
            .text(400, "invalid subsystem passed"),
        case("plugin not in stream", Method::GET, "/plugins/nope?subsystem=stream", None)
            .error(404, "plugin not found in subsystem stream"),
        case("schema validate failure", Method::POST, "/schema/validate/stream_routes", Some(json!({"server_port": 0})))
            .error(400, r#"property "server_port" validation failed: expected 0 to be at least 1"#),
    ]
}

/// Puts the objects the cases refer to: upstream 1, service s1, stream routes 1 and svc.
async fn seed(gw: &Gateway) {
    gw.put_ok(
        "/upstreams/1",
        json!({"type": "roundrobin", "nodes": {"127.0.0.1:1995": 1}}),
    )
    .await;
    gw.put_ok("/services/s1", json!({"upstream": upstream()}))
        .await;
    gw.put_ok(
        "/stream_routes/1",
        json!({"server_port": 1985, "upstream_id": "1"}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/svc",
        json!({"server_port": 1986, "service_id": "s1"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_get_apisix_errors_and_leave_the_store_unchanged() {
    let gw = Gateway::start_default().await.expect("start gateway");
    seed(&gw).await;
    let cases = cases();
    assert!(cases.len() >= 40, "keep at least 40 cases");
    let mut failures = Vec::new();
    for case in cases {
        let before = gw.store_dump().await;
        let mut req = gw
            .admin_request(case.method.clone(), &case.path)
            .auth(case.auth.clone());
        if let Some(body) = &case.body {
            req = req.raw(body.clone());
        }
        let reply = match req.try_send().await {
            Ok(reply) => reply,
            Err(e) => {
                failures.push(format!(
                    "{}: {} {}: transport error {e:#}",
                    case.name, case.method, case.path
                ));
                continue;
            }
        };
        if let Err(e) = check_reply(&reply, case.status, &case.expect) {
            failures.push(format!("{}: {} {}: {e}", case.name, case.method, case.path));
        }
        if case.name == "bad JSON" {
            let req_body = reply.try_json().and_then(|v| v.get("req_body").cloned());
            if req_body != Some(json!(r#"{"remote_addr":"#))
                || !reply.error_msg().starts_with("invalid request body: ")
            {
                failures.push(format!(
                    "bad JSON: expected invalid request body + req_body, got {:?}",
                    reply.text
                ));
            }
        }
        if case.status == 401 && reply.headers.contains_key("x-api-version") {
            failures.push(format!("{}: a 401 must not carry X-API-VERSION", case.name));
        }
        let after = gw.store_dump().await;
        if before != after {
            failures.push(format!(
                "{}: the store changed after a {} reply",
                case.name, reply.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
