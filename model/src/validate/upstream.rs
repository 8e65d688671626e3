//! `check_upstream_conf` of apisix/upstream.lua: for `/upstreams` and a service's inline
//! upstream (never for a stream route's inline upstream, which only gets the JSON schema).

use serde_json::Value;

use super::{ref_exists, schema_error, Mode};
use crate::ip::{lua_tonumber, parse_ipv6};
use crate::json_path::JsonPath;
use crate::jsonschema::{self, lua_number, lua_tostring};
use crate::schema::{chash_key_schema, resource_schema};
use crate::{CheckContext, ResourceKind, ValidationError};

/// The port of a `host:port` node key as `core.utils.parse_addr` reads it (`None` when the
/// key has no port or the port is not a number).
pub(crate) fn parse_addr_port(addr: &str) -> Option<f64> {
    let last_start = addr.char_indices().last().map_or(0, |(i, _)| i);
    let without_last = &addr[..last_start];
    if addr.starts_with('[') {
        if addr.ends_with(']') {
            return None;
        }
        let pos = without_last.rfind(':')?;
        if !addr[..pos].ends_with(']') {
            return None;
        }
        return lua_tonumber(&addr[pos + 1..]);
    }
    let mut colons = 0;
    for c in addr.chars() {
        match c {
            '.' => break,
            ':' => {
                colons += 1;
                if colons == 2 {
                    return None;
                }
            }
            _ => {}
        }
    }
    let pos = without_last.rfind(':')?;
    lua_tonumber(&addr[pos + 1..])
}

fn is_bare_ipv6(host: &str) -> bool {
    parse_ipv6(host).is_some() && !host.starts_with('[')
}

/// The upstream checks. In `Mode::Write` (the Admin API, APISIX's `in_dp = false`): the
/// IPv6-bracket rule, the schema, hash-form ports and the `client_cert_id` reference come
/// first; `Mode::Stored` skips them (the data plane brackets bare IPv6 hosts itself).
pub(crate) fn check_upstream(
    conf: &Value,
    ctx: &CheckContext,
    mode: Mode,
) -> Result<(), ValidationError> {
    if mode.is_write() {
        let nodes = conf.get("nodes");
        for (i, node) in nodes
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if node
                .get("host")
                .and_then(Value::as_str)
                .is_some_and(is_bare_ipv6)
            {
                return Err(ValidationError::at(
                    JsonPath::keys(["host"]).under_index(i).under_key("nodes"),
                    "invalid configuration: IPv6 address must be enclosed with '[' and ']'",
                ));
            }
        }
    }
    jsonschema::validate_at(resource_schema(ResourceKind::Upstreams), conf)
        .map_err(|e| schema_error(mode, e))?;
    if mode.is_write() {
        if let Some(Value::Object(nodes)) = conf.get("nodes") {
            for addr in nodes.keys() {
                if let Some(port) = parse_addr_port(addr) {
                    if !(1.0..=65535.0).contains(&port) {
                        return Err(ValidationError::at(
                            JsonPath::keys(["nodes", addr.as_str()]),
                            format!("invalid port {}", lua_number(port)),
                        ));
                    }
                }
            }
        }
        if let Some(ssl_id) = conf.get("tls").and_then(|t| t.get("client_cert_id")) {
            let id = lua_tostring(ssl_id);
            let at = || JsonPath::keys(["tls", "client_cert_id"]);
            let Some(ssl) = ref_exists(ctx, ResourceKind::Ssls, &id) else {
                return Err(ValidationError::at(
                    at(),
                    format!("failed to fetch ssl info by ssl id [{id}], response code: 404"),
                ));
            };
            if ssl.get("type").and_then(Value::as_str) != Some("client") {
                return Err(ValidationError::at(
                    at(),
                    format!("failed to fetch ssl info by ssl id [{id}], wrong ssl type"),
                ));
            }
        }
        // The Admin API runs in APISIX's http subsystem, where this rule applies.
        if conf.get("pass_host").and_then(Value::as_str) == Some("rewrite") {
            let host = conf.get("upstream_host");
            if host.is_none() || host == Some(&Value::String(String::new())) {
                return Err(ValidationError::at_key(
                    "upstream_host",
                    "`upstream_host` can't be empty when `pass_host` is `rewrite`",
                ));
            }
        }
    }
    if let Some(tls) = conf.get("tls") {
        if let Some(cert) = tls.get("client_cert").filter(|c| super::truthy(c)) {
            super::ssl::validate_pair(Some(cert), tls.get("client_key"), mode)
                .map_err(|e| ValidationError::at(JsonPath::keys(["tls", "client_cert"]), e))?;
        }
    }
    check_chash(conf)
}

fn check_chash(conf: &Value) -> Result<(), ValidationError> {
    if conf.get("type").and_then(Value::as_str) != Some("chash") {
        return Ok(());
    }
    let hash_on = conf
        .get("hash_on")
        .and_then(Value::as_str)
        .unwrap_or("vars");
    let key = conf.get("key");
    if hash_on != "consumer" && key.is_none() {
        return Err(ValidationError::at_key("key", "missing key"));
    }
    let schema = chash_key_schema(hash_on)
        .map_err(|e| ValidationError::at_key("hash_on", format!("type is chash, err: {e}")))?;
    if let (Some(schema), Some(key)) = (schema, key) {
        jsonschema::validate(schema, key)
            .map_err(|e| ValidationError::at_key("key", format!("invalid configuration: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_addr_port;

    #[test]
    fn node_keys_split_like_parse_addr() {
        assert_eq!(parse_addr_port("127.0.0.1:80"), Some(80.0));
        assert_eq!(parse_addr_port("127.0.0.1:70000"), Some(70000.0));
        assert_eq!(parse_addr_port("[::1]:0"), Some(0.0));
        assert_eq!(parse_addr_port("[::1]"), None);
        assert_eq!(parse_addr_port("::1"), None);
        assert_eq!(parse_addr_port("example.com"), None);
        assert_eq!(parse_addr_port("example.com:abc"), None);
    }
}
