//! The JSON schemas of the stream plugins, as APISIX defines them in
//! apisix/stream/plugins/*.lua (and the HTTP modules they reuse), each with the injected
//! `_meta` property APISIX adds when it loads a plugin.

use serde_json::{json, Map, Value};

use crate::schema::{id_schema, ip_def, resource_schema};
use crate::ResourceKind;

/// `plugin_injected_schema['$comment']`.
pub const INJECTED_COMMENT: &str = "this is a mark for our injected plugin schema";

fn meta_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "disable": {"type": "boolean"},
            "error_response": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "priority": {"description": "priority of plugins by customized order", "type": "integer"},
            "filter": {
                "description": "filter determines whether the plugin needs to be executed at runtime",
                "type": "array"
            },
            "pre_function": {
                "description": "function to be executed in each phase before execution of plugins. The pre_function will have access to two arguments: `conf` and `ctx`.",
                "type": "string"
            }
        },
        "additionalProperties": false
    })
}

/// Adds `properties._meta` and the `$comment` mark, as `load_plugin` does.
fn inject_meta(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        let props = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(props) = props {
            props.insert("_meta".to_owned(), meta_schema());
        }
        map.insert(
            "$comment".to_owned(),
            Value::String(INJECTED_COMMENT.to_owned()),
        );
    }
    schema
}

pub(super) fn ip_restriction() -> Value {
    let list = json!({"type": "array", "items": {"anyOf": ip_def()}, "minItems": 1});
    inject_meta(json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "default": "Your IP address is not allowed"
            },
            "response_code": {"type": "integer", "minimum": 403, "maximum": 404, "default": 403},
            "whitelist": list,
            "blacklist": list
        },
        "oneOf": [
            {"required": ["whitelist"]},
            {"required": ["blacklist"]}
        ]
    }))
}

pub(super) fn limit_conn() -> Value {
    inject_meta(json!({
        "type": "object",
        "properties": {
            "conn": {"type": "integer", "exclusiveMinimum": 0},
            "burst": {"type": "integer", "minimum": 0},
            "default_conn_delay": {"type": "number", "exclusiveMinimum": 0},
            "only_use_default_delay": {"type": "boolean", "default": false},
            "key": {"type": "string"},
            "key_type": {"type": "string", "enum": ["var", "var_combination"], "default": "var"}
        },
        "required": ["conn", "burst", "default_conn_delay", "key"]
    }))
}

pub(super) fn mqtt_proxy() -> Value {
    inject_meta(json!({
        "type": "object",
        "properties": {
            "protocol_name": {"type": "string", "default": "MQTT"},
            "protocol_level": {"type": "integer"}
        },
        "required": ["protocol_level"]
    }))
}

pub(super) fn traffic_split() -> Value {
    inject_meta(json!({
        "type": "object",
        "properties": {
            "rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "match": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"vars": {"type": "array"}}}
                        },
                        "weighted_upstreams": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "upstream_id": id_schema(),
                                    "upstream": resource_schema(ResourceKind::Upstreams),
                                    "weight": {
                                        "description": "used to split traffic between differentupstreams for plugin configuration",
                                        "type": "integer",
                                        "default": 1,
                                        "minimum": 0
                                    }
                                }
                            },
                            "default": [{"weight": 1}],
                            "minItems": 1,
                            "maxItems": 20
                        }
                    }
                }
            }
        }
    }))
}

pub(super) fn prometheus() -> Value {
    inject_meta(json!({
        "type": "object",
        "properties": {"prefer_name": {"type": "boolean", "default": false}}
    }))
}

pub(super) fn syslog() -> Value {
    inject_meta(json!({
        "type": "object",
        "properties": {
            "host": {"type": "string"},
            "port": {"type": "integer"},
            "flush_limit": {"type": "integer", "minimum": 1, "default": 4096},
            "drop_limit": {"type": "integer", "default": 1048576},
            "timeout": {"type": "integer", "minimum": 1, "default": 3000},
            "log_format": {"type": "object"},
            "sock_type": {"type": "string", "default": "tcp", "enum": ["tcp", "udp"]},
            "pool_size": {"type": "integer", "minimum": 5, "default": 5},
            "tls": {"type": "boolean", "default": false},
            "name": {"type": "string", "default": "stream sys logger"},
            "max_retry_count": {"type": "integer", "minimum": 0, "default": 0},
            "retry_delay": {"type": "integer", "minimum": 0, "default": 1},
            "buffer_duration": {"type": "integer", "minimum": 1, "default": 60},
            "inactive_timeout": {"type": "integer", "minimum": 1, "default": 5},
            "batch_max_size": {"type": "integer", "minimum": 1, "default": 1000}
        },
        "required": ["host", "port"]
    }))
}

/// syslog's metadata schema (APISIX checks metadata against the HTTP module first, whose
/// schema also has `log_format_extra`).
pub(super) fn syslog_metadata() -> Value {
    json!({
        "type": "object",
        "properties": {
            "log_format_extra": {"type": "object"},
            "log_format": {"type": "object"},
            "max_pending_entries": {
                "type": "integer",
                "minimum": 1,
                "default": 8192,
                "description": "maximum number of entries waiting to be processed; new entries are discarded while the backlog exceeds it"
            }
        }
    })
}

/// prometheus's metadata schema, reduced to its shape (APISIX enumerates its HTTP metric
/// labels under `disabled_labels`).
pub(super) fn prometheus_metadata() -> Value {
    json!({
        "type": "object",
        "properties": {"disabled_labels": {"type": "object"}}
    })
}
