//! ADC (`api7/adc` 0.28.0, APISIX's declarative CLI) against the real gateway binary, replayed.
//! ADC cannot be installed from a package registry, so `make test` does not run it; instead
//! `tests/fixtures/adc_session.jsonl` holds every Admin API request a real ADC session sent
//! (captured with `scripts/adc_capture.py`; the session, command by command, is docs/adc.md):
//! `ping`, `dump`, `validate` (a valid and an invalid file), `sync` (create), `diff`, re-syncs
//! with `--no-managed-by-label`, a change, stream-route plugins, a file with an HTTP route, and
//! the sync of an empty file that deletes everything.
//!
//! Each request is sent again in the recorded order with the recorded method, path and body
//! (ADC's labels `{"managed-by":"adc","__ADC_NAME":...}` included; ports and PEMs substituted),
//! and each answer must have the recorded status and body (timestamps and revisions dropped)
//! and `Server: APISIX/3.18.0 ...`, from which ADC reads the version. Between steps, the data
//! path must follow: after `sync` the stream route reaches backend A, after `sync-changed`
//! backend B, and after `sync-empty` the port closes connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client::{self, wait_for_greeting};
use e2e::gateway::{Gateway, GatewayConfig};
use e2e::{ports, wait};
use reqwest::Method;
use serde_json::{Map, Value};

const SESSION: &str = include_str!("../fixtures/adc_session.jsonl");

/// How long a synced change may take to reach the data path.
const APPLY: Duration = Duration::from_secs(5);

/// Fields whose values differ from run to run.
const VOLATILE: [&str; 4] = [
    "create_time",
    "update_time",
    "createdIndex",
    "modifiedIndex",
];

/// One recorded exchange.
struct Exchange {
    step: String,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
    response: Value,
}

fn session() -> Vec<Exchange> {
    SESSION
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("fixture lines are JSON");
            let text = |name: &str| record[name].as_str().expect("a string field").to_owned();
            Exchange {
                step: text("step"),
                method: Method::from_bytes(text("method").as_bytes()).expect("an HTTP method"),
                path: text("path"),
                body: Some(record["body"].clone()).filter(|b| !b.is_null()),
                status: u16::try_from(record["status"].as_u64().expect("a status"))
                    .expect("a status fits u16"),
                response: record["response"].clone(),
            }
        })
        .collect()
}

/// Replaces every `"${NAME}"` string in `value` with `vars[NAME]`.
fn substitute(value: &Value, vars: &HashMap<&str, Value>) -> Value {
    match value {
        Value::String(s) => s
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .and_then(|name| vars.get(name))
            .cloned()
            .unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Drops the volatile fields; an SSL's stored (encrypted) `key` becomes `"${ENCRYPTED}"`, as
/// in the fixture.
fn normalise(value: &Value, key_pem: &str) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, key_pem)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if VOLATILE.contains(&k.as_str()) {
                    continue;
                }
                let encrypted = k == "key"
                    && map.contains_key("cert")
                    && v.as_str().is_some_and(|s| s != key_pem);
                let v = if encrypted {
                    Value::String("${ENCRYPTED}".into())
                } else {
                    normalise(v, key_pem)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Checks the data path once a step has been replayed.
async fn after_step(step: &str, route: SocketAddr) {
    match step {
        "sync" => wait_for_greeting(route, "backend-a", APPLY)
            .await
            .expect("after the first sync the stream route reaches backend A"),
        "sync-changed" => wait_for_greeting(route, "backend-b", APPLY)
            .await
            .expect("after the change the stream route reaches backend B"),
        "sync-empty" => {
            wait::until(
                "the deleted route's port to close connections",
                APPLY,
                || async {
                    let mut stream = client::connect(route).await.ok()?;
                    client::expect_closed_without_data(&mut stream, Duration::from_secs(1))
                        .await
                        .ok()
                },
            )
            .await
            .expect("after the empty sync nothing is routed");
        }
        _ => {}
    }
}

#[tokio::test]
async fn adc_session_replays_with_the_recorded_answers_and_traffic_follows() {
    let backend_a = TcpBackend::greeting("backend-a").await;
    let backend_b = TcpBackend::greeting("backend-b").await;
    let mut config = GatewayConfig::with_listeners(1, 0);
    config.tcp_tls_ports = vec![ports::free_port()];
    let tls_port = config.tcp_tls_ports[0];
    let gw = Gateway::start(config).await.expect("gateway starts");
    let route = gw.tcp_addr(0);

    let cert = testkit::certs::Leaf::self_signed(&["echo.test"]);
    let key_pem = cert.key_pem.clone();
    let vars: HashMap<&str, Value> = HashMap::from([
        ("TCP_PORT", route.port().into()),
        ("TLS_PORT", tls_port.into()),
        ("BACKEND_A", backend_a.addr.port().into()),
        ("BACKEND_B", backend_b.addr.port().into()),
        ("CERT", cert.cert_pem.clone().into()),
        ("KEY", key_pem.clone().into()),
    ]);

    let exchanges = session();
    assert!(exchanges.len() > 100, "the whole session is in the fixture");
    for (i, exchange) in exchanges.iter().enumerate() {
        let what = format!(
            "#{i} [{}] {} {}",
            exchange.step, exchange.method, exchange.path
        );
        let path = exchange
            .path
            .strip_prefix("/apisix/admin")
            .expect("ADC calls the Admin API only");
        let mut request = gw.admin_request(exchange.method.clone(), path);
        if let Some(body) = &exchange.body {
            request = request.json(&substitute(body, &vars));
        }
        let reply = request.send().await;
        assert_eq!(reply.status, exchange.status, "{what}: {}", reply.text);
        let server = reply
            .headers
            .get("server")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            server.starts_with("APISIX/3.18.0 "),
            "{what}: Server {server:?}"
        );
        let got = reply.try_json().map_or_else(
            || Value::String(reply.text.clone()),
            |v| normalise(&v, &key_pem),
        );
        assert_eq!(got, substitute(&exchange.response, &vars), "{what}");

        let step_ends = exchanges
            .get(i + 1)
            .is_none_or(|next| next.step != exchange.step);
        if step_ends {
            after_step(&exchange.step, route).await;
        }
    }
}
