//! The check each fuzz target makes on one input: no panic, plus the target's invariants.
//! Shared by the libFuzzer targets (`fuzz_targets/<target>.rs`) and by the ordinary test suite,
//! which replays the seed corpus and every kept regression input through the same functions
//! (`gateway/tests/fuzz_regressions.rs`). Each includes this file with `#[path]`.
#![allow(dead_code)]

use std::path::Path;
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

fn check_stored_ctx() -> CheckContext {
    CheckContext::new(
        model::plugins::default_stream_plugins(),
        vec!["redis".to_owned(), "dubbo".to_owned()],
    )
}

/// The PROXY protocol v1/v2 decoder: a decoded header fits the input and its version's bounds,
/// and its own bytes decode the same way.
pub fn proxy_protocol(data: &[u8]) {
    if let Ok(Peeked::Done((header, len))) = proxy_protocol::decode(data) {
        assert!(
            len <= data.len(),
            "header length {len} beyond {} bytes",
            data.len()
        );
        match header.version {
            1 => assert!(len <= V1_MAX),
            2 => assert!((16..=V2_MAX).contains(&len)),
            other => panic!("version {other}"),
        }
        // The same bytes decide the same way.
        assert_eq!(
            proxy_protocol::decode(&data[..len]),
            Ok(Peeked::Done((header, len)))
        );
    }
}

/// The ClientHello SNI reader: a name read is non-empty, lowercase, without a trailing dot.
pub fn tls_client_hello(data: &[u8]) {
    if let Peeked::Done(Some(name)) = client_hello_sni(data) {
        assert!(!name.is_empty());
        assert!(!name.ends_with('.'), "{name:?}");
        assert_eq!(name, name.to_ascii_lowercase());
    }
}

/// The mqtt-proxy CONNECT parser (MQTT 3.1, 3.1.1, 5): a verdict does not change when more
/// bytes follow the packet.
pub fn mqtt_connect(data: &[u8]) {
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

/// `config.yaml` with `${{ENV}}` substitution (the value of every set variable before a NUL
/// byte, the text after it): never panics.
pub fn config_yaml(data: &[u8]) {
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

/// The standalone `apisix.yaml` loader: every item is under the prefix; each is validated.
pub fn standalone_yaml(data: &[u8]) {
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

/// Admin API body validation of every resource and write method (chosen by the first byte).
pub fn admin_body(data: &[u8]) {
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

/// The access-log format parser and renderer, with both escapes, on one fixed session.
pub fn access_log_format(data: &[u8]) {
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
        route_stats: None,
    };
    for escape in [Escape::Default, Escape::Json] {
        let (format, _unknown) = LogFormat::parse(template, escape);
        let _ = format.render(&record);
    }
}
