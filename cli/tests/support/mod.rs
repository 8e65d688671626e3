//! Test support: run the real `apisixctl` binary (through `testkit::ctl`), and an in-process
//! Admin and Control API double (on `testkit::http_double`) that keeps objects in memory with
//! APISIX v3 envelopes and status codes, so CLI behaviour can be checked without a gateway.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use testkit::ctl::{run_ctl_blocking, CtlRun};
use testkit::http_double::{HttpDouble, Request};

/// A fresh temporary directory (the CLI's working directory in a test).
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `args` after `--server <mock> --admin-key <KEY> --timeout 5s`.
pub fn with_server<'a>(mock: &'a MockAdmin, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--server",
        mock.url.as_str(),
        "--admin-key",
        KEY,
        "--timeout",
        "5s",
    ];
    all.extend_from_slice(args);
    all
}

/// Runs `apisixctl` in `cwd` with no APISIX/ADC environment and `args`.
pub fn apisixctl(cwd: &Path, args: &[&str]) -> CtlRun {
    apisixctl_stdin(cwd, args, None)
}

/// Like [`apisixctl`], feeding `stdin`.
pub fn apisixctl_stdin(cwd: &Path, args: &[&str], stdin: Option<&str>) -> CtlRun {
    run_ctl_blocking(Path::new(env!("CARGO_BIN_EXE_apisixctl")), cwd, args, stdin)
}

/// The in-memory Admin API double.
pub struct MockAdmin {
    pub url: String,
    pub store: Arc<Mutex<BTreeMap<(String, String), Value>>>,
    /// The requests received, in order.
    pub seen: Arc<Mutex<Vec<Request>>>,
}

/// The key the double requires.
pub const KEY: &str = "test-key";

impl MockAdmin {
    /// Starts the double on a free port.
    pub fn start() -> Self {
        let store = Arc::new(Mutex::new(BTreeMap::new()));
        let shared = store.clone();
        let double = HttpDouble::start(Arc::new(move |req: &Request| {
            let (status, resp) = handle(
                &req.method,
                &req.path,
                req.api_key.as_deref(),
                req.body.as_bytes(),
                &shared,
            );
            let text = if resp.is_null() {
                String::new()
            } else {
                resp.to_string()
            };
            (status, text)
        }));
        MockAdmin {
            url: double.url,
            store,
            seen: double.seen,
        }
    }

    /// Stores an object directly.
    pub fn insert(&self, dir: &str, id: &str, value: Value) {
        let mut v = value;
        v["id"] = json!(id);
        v["create_time"] = json!(1);
        v["update_time"] = json!(1);
        self.store
            .lock()
            .expect("store lock")
            .insert((dir.into(), id.into()), v);
    }

    /// Sets the route id the Control API double reports for every connection.
    pub fn set_connection_route(&self, route_id: &str) {
        self.store.lock().expect("store lock").insert(
            ("control".into(), "route_of_connections".into()),
            json!(route_id),
        );
    }

    /// Sets the body the Control API double answers to `GET /v1/<what>` (`upstreams`,
    /// `stream_routes`); without one, `upstreams` is `[]` and `stream_routes` a 404.
    pub fn set_control(&self, what: &str, body: Value) {
        self.store
            .lock()
            .expect("store lock")
            .insert(("control".into(), what.into()), body);
    }

    /// Reads an object.
    pub fn get(&self, dir: &str, id: &str) -> Option<Value> {
        self.store
            .lock()
            .expect("store lock")
            .get(&(dir.to_owned(), id.to_owned()))
            .cloned()
    }

    /// How many requests had this method.
    pub fn count(&self, method: &str) -> usize {
        self.seen
            .lock()
            .expect("request log lock")
            .iter()
            .filter(|r| r.method == method)
            .count()
    }
}

type Store = Mutex<BTreeMap<(String, String), Value>>;

/// The Control API part (docs/control-api.md shapes). Connections answer with the route id
/// stored under `("control", "route_of_connections")`, so tests choose where "the gateway"
/// routed a connection.
fn control(method: &str, segs: &[&str], query: &str, store: &Store) -> (u16, Value) {
    let store = store.lock().expect("store lock");
    match (method, segs) {
        ("GET", ["v1", "status"]) => (
            200,
            json!({"version": "0.1.0", "role": "traditional",
            "listeners": [{"protocol": "tcp", "addr": "127.0.0.1:1", "tls": false}]}),
        ),
        ("GET", ["v1", "connections"]) => {
            let route = store
                .get(&("control".to_owned(), "route_of_connections".to_owned()))
                .cloned()
                .unwrap_or(json!("1"));
            // The `route_id` filter is honoured, as the gateway does.
            let filtered_out = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("route_id="))
                .any(|wanted| Some(wanted) != route.as_str());
            let list = if filtered_out {
                json!([])
            } else {
                json!([{"id": "c-1", "route_id": route, "client": "127.0.0.1:5",
                "protocol": "tcp", "age_secs": 1.5, "bytes_in": 3, "bytes_out": 4, "query": query}])
            };
            (200, json!({"list": list, "total": 1}))
        }
        ("GET", ["v1", "match"]) => (
            200,
            json!({"matched": "1", "query": query,
            "routes": [{"id": "1", "matched": true, "reason": null}]}),
        ),
        ("DELETE", ["v1", "connections", id]) => (200, json!({"killed": id})),
        ("GET", ["v1", "healthcheck"]) => (200, json!([])),
        ("GET", ["v1", what @ ("upstreams" | "stream_routes")]) => {
            match store.get(&("control".to_owned(), (*what).to_owned())) {
                Some(body) => (200, body.clone()),
                None if *what == "upstreams" => (200, json!([])),
                None => (404, json!({"error_msg": "not found"})),
            }
        }
        _ => (404, json!({"error_msg": "not found"})),
    }
}

fn handle(
    method: &str,
    target: &str,
    key: Option<&str>,
    body: &[u8],
    store: &Store,
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method == "HEAD" && segs == ["apisix", "admin"] {
        return (200, Value::Null);
    }
    if segs.first() == Some(&"v1") {
        return control(method, &segs, query, store);
    }
    if key != Some(KEY) {
        return (
            401,
            json!({"error_msg": "failed to check token", "description": "wrong apikey"}),
        );
    }
    let mut store = store.lock().expect("store lock");
    match (method, segs.as_slice()) {
        ("GET", ["apisix", "admin", "plugins", "list"]) => (200, json!(["limit-conn"])),
        ("GET", ["apisix", "admin", dir]) => {
            let list: Vec<Value> = store
                .iter()
                .filter(|((d, _), _)| d == dir)
                .map(|((d, id), v)| json!({"key": format!("/apisix/{d}/{id}"), "value": v, "createdIndex": 1, "modifiedIndex": 1}))
                .collect();
            let total = list.len();
            (200, json!({"list": list, "total": total}))
        }
        ("GET", ["apisix", "admin", dir, id]) => {
            match store.get(&((*dir).to_owned(), (*id).to_owned())) {
                Some(v) => (
                    200,
                    json!({"key": format!("/apisix/{dir}/{id}"), "value": v, "createdIndex": 1, "modifiedIndex": 2}),
                ),
                None => (404, json!({"message": "Key not found"})),
            }
        }
        ("PUT", ["apisix", "admin", dir, id]) => {
            let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
                return (400, json!({"error_msg": "invalid request body"}));
            };
            if v.get("create_time").is_some() {
                return (
                    400,
                    json!({"error_msg": "the property is forbidden:  create_time"}),
                );
            }
            if v.get("server_port")
                .and_then(Value::as_u64)
                .is_some_and(|p| p > 65535)
            {
                return (
                    400,
                    json!({"error_msg": "invalid configuration: property \"server_port\" validation failed: expected 70000 to be at most 65535"}),
                );
            }
            let k = ((*dir).to_owned(), (*id).to_owned());
            let old = store.get(&k).cloned();
            v["id"] = json!(id);
            v["create_time"] = old
                .as_ref()
                .map_or(json!(100), |o| o["create_time"].clone());
            v["update_time"] = json!(200);
            if *dir == "upstreams" && v.get("type").is_none() {
                v["type"] = json!("roundrobin");
            }
            store.insert(k, v.clone());
            let status = if old.is_some() { 200 } else { 201 };
            (
                status,
                json!({"key": format!("/apisix/{dir}/{id}"), "value": v}),
            )
        }
        ("POST", ["apisix", "admin", dir]) => {
            let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
                return (400, json!({"error_msg": "invalid request body"}));
            };
            let id = format!("{:020}", store.len() + 1);
            v["id"] = json!(id);
            store.insert(((*dir).to_owned(), id.clone()), v.clone());
            (
                201,
                json!({"key": format!("/apisix/{dir}/{id}"), "value": v}),
            )
        }
        ("PATCH", ["apisix", "admin", "stream_routes", _]) => (
            405,
            json!({"error_msg": "not supported `PATCH` method for stream route"}),
        ),
        ("PATCH", ["apisix", "admin", dir, id]) => {
            let k = ((*dir).to_owned(), (*id).to_owned());
            let (Some(old), Ok(Value::Object(patch))) = (
                store.get(&k).cloned(),
                serde_json::from_slice::<Value>(body),
            ) else {
                return (404, json!({"message": "Key not found"}));
            };
            let mut v = old;
            for (key, val) in patch {
                v[key] = val;
            }
            store.insert(k, v.clone());
            (
                200,
                json!({"key": format!("/apisix/{dir}/{id}"), "value": v}),
            )
        }
        ("DELETE", ["apisix", "admin", dir, id]) => {
            let force = query.contains("force=true");
            if *dir == "upstreams"
                && !force
                && store.iter().any(|((d, _), v)| {
                    d == "stream_routes" && v.get("upstream_id").and_then(Value::as_str) == Some(id)
                })
            {
                return (
                    400,
                    json!({"error_msg": "can not delete this upstream, stream_route [x] is still using it now"}),
                );
            }
            match store.remove(&((*dir).to_owned(), (*id).to_owned())) {
                Some(_) => (
                    200,
                    json!({"deleted": "1", "key": format!("/apisix/{dir}/{id}")}),
                ),
                None => (404, json!({"message": "Key not found"})),
            }
        }
        _ => (
            404,
            json!({"error_msg": format!("Unsupported resource type: {path}")}),
        ),
    }
}
