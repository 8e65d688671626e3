//! Fuzz inputs replayed by the ordinary test suite (stable, no libFuzzer): every crash or hang
//! `make fuzz` found, once fixed, is kept in `tests/fuzz_regressions/<target>/`, and the seed
//! corpus of `fuzz/corpus/<target>/` is replayed too. Each target's check is the one its fuzz
//! target (`fuzz/fuzz_targets/<target>.rs`) makes: no panic, plus the same invariants.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use apisix_gateway::accesslog::format::{Escape, LogFormat};
use apisix_gateway::config::{self, env};
use apisix_gateway::conn::Transport;
use apisix_gateway::plugins::mqtt::{MqttProxy, Parse};
use apisix_gateway::proxy_protocol::{self, peek::Peeked, V1_MAX, V2_MAX};
use apisix_gateway::session::SessionRecord;
use apisix_gateway::store::yaml;
use apisix_gateway::tls::sni::client_hello_sni;
use model::{CheckContext, ResourceKind, WriteMethod};
use serde_json::json;

/// Every input kept for `target`: the committed regressions, then the seed corpus.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("tests/fuzz_regressions").join(target),
        root.join("../fuzz/corpus").join(target),
    ];
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            out.push((file, data));
        }
    }
    assert!(!out.is_empty(), "no inputs for {target}");
    out
}

fn check_stored_ctx() -> CheckContext {
    CheckContext::new(
        model::plugins::default_stream_plugins(),
        vec!["redis".to_owned(), "dubbo".to_owned()],
    )
}

fn proxy_protocol(data: &[u8]) {
    if let Ok(Peeked::Done((header, len))) = proxy_protocol::decode(data) {
        assert!(len <= data.len());
        match header.version {
            1 => assert!(len <= V1_MAX),
            2 => assert!((16..=V2_MAX).contains(&len)),
            other => panic!("version {other}"),
        }
        assert_eq!(
            proxy_protocol::decode(&data[..len]),
            Ok(Peeked::Done((header, len)))
        );
    }
}

fn tls_client_hello(data: &[u8]) {
    if let Peeked::Done(Some(name)) = client_hello_sni(data) {
        assert!(!name.is_empty() && !name.ends_with('.'));
        assert_eq!(name, name.to_ascii_lowercase());
    }
}

fn mqtt_connect(data: &[u8]) {
    for (name, level) in [("MQTT", 4), ("MQTT", 5), ("MQIsdp", 3)] {
        let plugin = MqttProxy::compile(&json!({"protocol_name": name, "protocol_level": level}));
        let verdict = plugin.parse(data);
        if let Ok(id) = &verdict {
            let mut longer = data.to_vec();
            longer.extend_from_slice(b"\x00\xff trailing");
            assert_eq!(plugin.parse(&longer).as_ref(), Ok(id));
        }
        if let Err(Parse::Invalid(_)) = verdict {
            let mut longer = data.to_vec();
            longer.push(0);
            assert!(matches!(plugin.parse(&longer), Err(Parse::Invalid(_))));
        }
    }
}

fn config_yaml(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (value, text) = input.split_once('\0').unwrap_or(("", input));
    let lookup = |name: &str| (!name.starts_with("UNSET")).then(|| value.to_owned());
    let _ = env::parse_yaml(text, &lookup);
    let _ = config::from_yaml_str(
        text,
        Path::new("/fuzz/conf/config.yaml"),
        Path::new("/fuzz"),
    );
}

fn standalone_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = yaml::is_complete(text);
    let Ok(items) = yaml::parse(text, "/apisix") else {
        return;
    };
    let ctx = check_stored_ctx();
    for (key, value) in items {
        assert!(key.starts_with("/apisix/"), "{key}");
        let Some(kind) = ResourceKind::ALL
            .into_iter()
            .find(|kind| key.starts_with(&format!("/apisix/{}/", kind.dir())))
        else {
            continue;
        };
        let id = key.rsplit('/').next().unwrap_or_default();
        let _ = model::validate::check_stored(kind, id, &value, &ctx);
    }
}

fn admin_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let kinds = ResourceKind::ALL;
    let kind = kinds[usize::from(selector) % kinds.len()];
    let method = match (selector / 8) % 3 {
        0 => WriteMethod::Put,
        1 => WriteMethod::Post,
        _ => WriteMethod::Patch,
    };
    let path_id = match method {
        WriteMethod::Post => None,
        _ if kind == ResourceKind::PluginMetadata => Some("mqtt-proxy"),
        _ => Some("1"),
    };
    let ctx = check_stored_ctx();
    let _ = model::validate::check_write(kind, method, path_id, Some(&body), &ctx);
    let _ = model::validate::check_schema_only(kind, &body);
}

fn access_log_format(data: &[u8]) {
    let Ok(template) = std::str::from_utf8(data) else {
        return;
    };
    let record = SessionRecord {
        route_id: Some("r\"1\\".to_owned()),
        listener: "0.0.0.0:9100".parse().expect("addr"),
        server: "127.0.0.1:9100".parse().expect("addr"),
        client: "[2001:db8::1]:40000".parse().expect("addr"),
        node: Some("10.0.0.1:80".parse().expect("addr")),
        status: 200,
        bytes_in: 12,
        bytes_out: 34,
        started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        duration: Duration::from_millis(1234),
        transport: Transport::Tcp,
        route_label: None,
        routed: true,
        rejection: None,
        upstream: None,
    };
    for escape in [Escape::Default, Escape::Json] {
        let (format, _unknown) = LogFormat::parse(template, escape);
        let _ = format.render(&record);
    }
}

/// Replays `target`'s inputs through `check`, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for (file, data) in inputs(target) {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn proxy_protocol_inputs_replay_cleanly() {
    replay("proxy_protocol", proxy_protocol);
}

#[test]
fn tls_client_hello_inputs_replay_cleanly() {
    replay("tls_client_hello", tls_client_hello);
}

#[test]
fn mqtt_connect_inputs_replay_cleanly() {
    replay("mqtt_connect", mqtt_connect);
}

#[test]
fn config_yaml_inputs_replay_cleanly() {
    replay("config_yaml", config_yaml);
}

#[test]
fn standalone_yaml_inputs_replay_cleanly() {
    replay("standalone_yaml", standalone_yaml);
}

#[test]
fn admin_body_inputs_replay_cleanly() {
    replay("admin_body", admin_body);
}

#[test]
fn access_log_format_inputs_replay_cleanly() {
    replay("access_log_format", access_log_format);
}
