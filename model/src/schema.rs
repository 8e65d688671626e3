//! APISIX's schemas (apisix/schema_def.lua, release 3.18) as JSON: the stream route, upstream,
//! service, SSL and plugin-metadata resources, and the xRPC protocol confs. They drive
//! [`crate::validate`] and are served as they are by `GET /v1/schema`.
//!
//! One deliberate addition: stream routes accept `snis` (an array of SNI patterns), which
//! APISIX added after 3.18 (PR #13911) with the same shape as the SSL object's `snis` and
//! `not: {required: [sni, snis]}`, so a route with both is rejected with
//! `invalid configuration: value wasn't supposed to match schema`.

mod upstream;

use std::sync::LazyLock;

use serde_json::{json, Value};

use crate::ResourceKind;

pub use upstream::{
    health_checker, health_checker_active, health_checker_passive, upstream_hash_header_schema,
    upstream_hash_vars_schema,
};

/// `host_def_pat`: a host or SNI pattern (`*`, `*.x.com`, `x.com`, `[::1]`).
pub const HOST_DEF_PAT: &str = r"^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$";

/// `id_schema`: a string id (1..64 of `[a-zA-Z0-9-_.]`) or an integer ≥ 1.
pub fn id_schema() -> Value {
    json!({
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-zA-Z0-9-_.]+$"},
            {"type": "integer", "minimum": 1}
        ]
    })
}

/// `host_def`.
pub fn host_def() -> Value {
    json!({"type": "string", "pattern": HOST_DEF_PAT})
}

/// `ip_def`: IPv4, IPv4/CIDR, IPv6, IPv6/CIDR (the IPv6/CIDR regex lets `:/8` through; the
/// stream route checker parses the value again).
pub fn ip_def() -> Value {
    let seg = "([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])";
    let ipv4 = [seg; 4].join(r"\.");
    let ipv6 = "([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?";
    json!([
        {"title": "IPv4", "type": "string", "format": "ipv4"},
        {"title": "IPv4/CIDR", "type": "string", "pattern": format!("^{ipv4}/([12]?[0-9]|3[0-2])$")},
        {"title": "IPv6", "type": "string", "format": "ipv6"},
        {"title": "IPv6/CIDR", "type": "string", "pattern": format!("^{ipv6}/[0-9]{{1,3}}$")}
    ])
}

pub(crate) fn timestamp_def() -> Value {
    json!({"type": "integer"})
}

pub(crate) fn rule_name_def() -> Value {
    json!({"type": "string", "maxLength": 256, "minLength": 1})
}

pub(crate) fn desc_def() -> Value {
    json!({"type": "string", "maxLength": 256})
}

pub(crate) fn labels_def() -> Value {
    json!({
        "description": "key/value pairs to specify attributes",
        "type": "object",
        "patternProperties": {
            ".*": {
                "description": "value of label",
                "type": "string",
                "pattern": r"^\S+$",
                "maxLength": 256,
                "minLength": 1
            }
        }
    })
}

pub(crate) fn timeout_def() -> Value {
    json!({
        "type": "object",
        "properties": {
            "connect": {"type": "number", "exclusiveMinimum": 0},
            "send": {"type": "number", "exclusiveMinimum": 0},
            "read": {"type": "number", "exclusiveMinimum": 0}
        },
        "required": ["connect", "send", "read"]
    })
}

/// The `properties` of a stored object: APISIX's `id`, `name`, `desc`, `labels`,
/// `create_time` and `update_time` first (in that order, as served), then `own`'s.
pub(crate) fn object_properties(own: Value) -> Value {
    let mut properties = json!({
        "id": id_schema(),
        "name": rule_name_def(),
        "desc": desc_def(),
        "labels": labels_def(),
        "create_time": timestamp_def(),
        "update_time": timestamp_def()
    });
    if let (Some(all), Value::Object(own)) = (properties.as_object_mut(), own) {
        all.extend(own);
    }
    properties
}

fn remote_addr_def(description: &str) -> Value {
    json!({"description": description, "type": "string", "anyOf": ip_def()})
}

fn xrpc_protocol_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "superior_id": id_schema(),
            "conf": {"description": "protocol-specific configuration", "type": "object"},
            "logger": {
                "type": "array",
                "items": {
                    "properties": {
                        "name": {"type": "string"},
                        "filter": {"description": "logger filter rules", "type": "array"},
                        "conf": {"description": "logger plugin configuration", "type": "object"}
                    },
                    "dependencies": {"name": ["conf"]},
                    "additionalProperties": false
                }
            }
        },
        "required": ["name"]
    })
}

fn stream_route() -> Value {
    json!({
        "type": "object",
        "properties": object_properties(json!({
            "remote_addr": remote_addr_def("client IP"),
            "server_addr": remote_addr_def("server IP"),
            "server_port": {"description": "server port", "type": "integer", "minimum": 1, "maximum": 65535},
            "sni": {"description": "server name indication", "type": "string", "pattern": HOST_DEF_PAT},
            "snis": {
                "description": "server name indications, any of which matches (not in APISIX 3.18)",
                "type": "array",
                "items": {"type": "string", "pattern": HOST_DEF_PAT},
                "minItems": 1
            },
            "upstream": upstream::upstream(),
            "upstream_id": id_schema(),
            "service_id": id_schema(),
            "plugins": {"type": "object"},
            "protocol": xrpc_protocol_schema()
        })),
        "not": {"required": ["sni", "snis"]},
        "additionalProperties": false
    })
}

fn service() -> Value {
    json!({
        "type": "object",
        "properties": object_properties(json!({
            "plugins": {"type": "object"},
            "upstream": upstream::upstream(),
            "upstream_id": id_schema(),
            "script": {"type": "string", "minLength": 10, "maxLength": 102400},
            "enable_websocket": {"description": "enable websocket for request", "type": "boolean"},
            "hosts": {"type": "array", "items": host_def(), "minItems": 1, "uniqueItems": true}
        })),
        "additionalProperties": false
    })
}

fn ssl() -> Value {
    let cert = json!({"type": "string", "minLength": 128, "maxLength": 65536});
    let key = json!({"type": "string", "minLength": 64, "maxLength": 65536});
    json!({
        "type": "object",
        "properties": {
            "id": id_schema(),
            "desc": desc_def(),
            "labels": labels_def(),
            "create_time": timestamp_def(),
            "update_time": timestamp_def(),
            "type": {
                "description": "ssl certificate type, server to server certificate, client to client certificate for upstream",
                "type": "string",
                "default": "server",
                "enum": ["server", "client"]
            },
            "cert": cert,
            "key": key,
            "sni": {"type": "string", "pattern": HOST_DEF_PAT},
            "snis": {"type": "array", "items": {"type": "string", "pattern": HOST_DEF_PAT}, "minItems": 1},
            "certs": {"type": "array", "items": cert},
            "keys": {"type": "array", "items": key},
            "client": {
                "type": "object",
                "properties": {
                    "ca": cert,
                    "depth": {"type": "integer", "minimum": 0, "default": 1},
                    "skip_mtls_uri_regex": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": true,
                        "items": {"description": "uri regular expression to skip mtls", "type": "string"}
                    }
                },
                "required": ["ca"]
            },
            "status": {
                "description": "ssl status, 1 to enable, 0 to disable",
                "type": "integer",
                "enum": [1, 0],
                "default": 1
            },
            "ssl_protocols": {
                "description": "set ssl protocols",
                "type": "array",
                "maxItems": 3,
                "uniqueItems": true,
                "items": {"enum": ["TLSv1.1", "TLSv1.2", "TLSv1.3"]}
            }
        },
        "if": {"properties": {"type": {"enum": ["server"]}}},
        "then": {
            "oneOf": [
                {"required": ["sni", "key", "cert"]},
                {"required": ["snis", "key", "cert"]}
            ]
        },
        "else": {"required": ["key", "cert"]},
        "additionalProperties": false
    })
}

static STREAM_ROUTE: LazyLock<Value> = LazyLock::new(stream_route);
static UPSTREAM: LazyLock<Value> = LazyLock::new(upstream::upstream);
static SERVICE: LazyLock<Value> = LazyLock::new(service);
static SSL: LazyLock<Value> = LazyLock::new(ssl);
static PLUGIN_METADATA: LazyLock<Value> = LazyLock::new(|| json!({"type": "object"}));
static HASH_VARS: LazyLock<Value> = LazyLock::new(upstream_hash_vars_schema);
static HASH_HEADER: LazyLock<Value> = LazyLock::new(upstream_hash_header_schema);
static HASH_VARS_COMBINATIONS: LazyLock<Value> = LazyLock::new(|| json!({"type": "string"}));
static REDIS_CONF: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "type": "object",
        "properties": {
            "faults": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "commands": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                        "key": {"type": "string", "minLength": 1},
                        "delay": {"type": "number", "description": "additional delay in seconds"}
                    },
                    "required": ["commands", "delay"]
                }
            }
        }
    })
});
static ANY_OBJECT: LazyLock<Value> = LazyLock::new(|| json!({"type": "object"}));

/// The schema of a resource kind. Plugin metadata has no resource schema in APISIX (each
/// plugin's metadata schema applies); it is `{"type":"object"}` here.
pub fn resource_schema(kind: ResourceKind) -> &'static Value {
    match kind {
        ResourceKind::StreamRoutes => &STREAM_ROUTE,
        ResourceKind::Upstreams => &UPSTREAM,
        ResourceKind::Services => &SERVICE,
        ResourceKind::Ssls => &SSL,
        ResourceKind::PluginMetadata => &PLUGIN_METADATA,
    }
}

/// The schema a chash `key` must match for `hash_on`; `Ok(None)` for `consumer`, `Err` with
/// APISIX's text for an unknown `hash_on`.
pub fn chash_key_schema(hash_on: &str) -> Result<Option<&'static Value>, String> {
    match hash_on {
        "vars" => Ok(Some(&HASH_VARS)),
        "header" | "cookie" => Ok(Some(&HASH_HEADER)),
        "consumer" => Ok(None),
        "vars_combinations" => Ok(Some(&HASH_VARS_COMBINATIONS)),
        other => Err(format!("invalid hash_on type {other}")),
    }
}

/// The schema of an xRPC protocol's `conf`: redis and dubbo as in APISIX; any other
/// registered protocol accepts an object.
pub fn xrpc_conf_schema(protocol: &str) -> &'static Value {
    match protocol {
        "redis" => &REDIS_CONF,
        _ => &ANY_OBJECT,
    }
}

/// The resource schemas under `main` in `GET /v1/schema` (the ones this gateway has).
pub fn main_schemas() -> Value {
    json!({
        "service": resource_schema(ResourceKind::Services),
        "ssl": resource_schema(ResourceKind::Ssls),
        "stream_route": resource_schema(ResourceKind::StreamRoutes),
        "upstream": resource_schema(ResourceKind::Upstreams),
        "upstream_hash_header_schema": &*HASH_HEADER,
        "upstream_hash_vars_schema": &*HASH_VARS
    })
}
