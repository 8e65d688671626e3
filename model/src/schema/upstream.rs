//! The upstream schema of apisix/schema_def.lua: nodes (hash and array forms), health checks,
//! tls, keepalive pool, hashing; plus the chash key schemas.

use serde_json::{json, Value};

use super::{host_def, id_schema, object_properties, timeout_def};

const HTTP_METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];

fn statuses(default: Value) -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "integer", "minimum": 200, "maximum": 599},
        "uniqueItems": true,
        "default": default
    })
}

fn counter(minimum: i64, default: i64) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": 254, "default": default})
}

/// `health_checker_active`.
pub fn health_checker_active() -> Value {
    json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["http", "https", "tcp"], "default": "http"},
            "timeout": {"type": "number", "default": 1},
            "concurrency": {"type": "integer", "default": 10},
            "host": host_def(),
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "http_method": {"type": "string", "enum": HTTP_METHODS, "default": "GET"},
            "http_path": {"type": "string", "default": "/"},
            "http_req_body": {"type": "string", "default": ""},
            "https_verify_certificate": {"type": "boolean", "default": true},
            "healthy": {
                "type": "object",
                "properties": {
                    "interval": {"type": "integer", "minimum": 1, "default": 1},
                    "http_statuses": statuses(json!([200, 302])),
                    "successes": counter(1, 2)
                }
            },
            "unhealthy": {
                "type": "object",
                "properties": {
                    "interval": {"type": "integer", "minimum": 1, "default": 1},
                    "http_statuses": statuses(json!([429, 404, 500, 501, 502, 503, 504, 505])),
                    "http_failures": counter(1, 5),
                    "tcp_failures": counter(1, 2),
                    "timeouts": counter(1, 3)
                }
            },
            "req_headers": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "uniqueItems": true}
            }
        }
    })
}

/// `health_checker_passive`.
pub fn health_checker_passive() -> Value {
    json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["http", "https", "tcp"], "default": "http"},
            "healthy": {
                "type": "object",
                "properties": {
                    "http_statuses": statuses(json!([
                        200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                        300, 301, 302, 303, 304, 305, 306, 307, 308
                    ])),
                    "successes": counter(0, 5)
                }
            },
            "unhealthy": {
                "type": "object",
                "properties": {
                    "http_statuses": statuses(json!([429, 500, 503])),
                    "tcp_failures": counter(0, 2),
                    "timeouts": counter(0, 7),
                    "http_failures": counter(0, 5)
                }
            }
        }
    })
}

/// `checks`: `active` is required, `passive` optional.
pub fn health_checker() -> Value {
    json!({
        "type": "object",
        "properties": {
            "active": health_checker_active(),
            "passive": health_checker_passive()
        },
        "anyOf": [
            {"required": ["active"]},
            {"required": ["active", "passive"]}
        ]
    })
}

fn nodes_schema() -> Value {
    json!({
        "anyOf": [
            {
                "type": "object",
                "patternProperties": {
                    ".*": {"description": "weight of node", "type": "integer", "minimum": 0}
                }
            },
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "host": host_def(),
                        "port": {"description": "port of node", "type": "integer", "minimum": 1, "maximum": 65535},
                        "weight": {"description": "weight of node", "type": "integer", "minimum": 0},
                        "priority": {"description": "priority of node", "type": "integer", "default": 0},
                        "metadata": {"description": "metadata of node", "type": "object"}
                    },
                    "required": ["host", "weight"]
                }
            }
        ]
    })
}

/// The upstream object (`/upstreams`, and inline `upstream` everywhere).
pub fn upstream() -> Value {
    json!({
        "type": "object",
        "properties": object_properties(json!({
            "nodes": nodes_schema(),
            "retries": {"type": "integer", "minimum": 0},
            "retry_timeout": {"type": "number", "minimum": 0},
            "timeout": timeout_def(),
            "tls": {
                "type": "object",
                "properties": {
                    "client_cert_id": id_schema(),
                    "client_cert": {"type": "string", "minLength": 128, "maxLength": 65536},
                    "client_key": {"type": "string", "minLength": 64, "maxLength": 65536},
                    "verify": {
                        "type": "boolean",
                        "description": "Turn on server certificate verification, currently only kafka upstream is supported",
                        "default": false
                    }
                },
                "dependencies": {
                    "client_cert": {"required": ["client_key"]},
                    "client_key": {"required": ["client_cert"]},
                    "client_cert_id": {"not": {"required": ["client_cert", "client_key"]}}
                }
            },
            "keepalive_pool": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "default": 320, "minimum": 1},
                    "idle_timeout": {"type": "number", "default": 60, "minimum": 0},
                    "requests": {"type": "integer", "default": 1000, "minimum": 1}
                }
            },
            "type": {
                "description": "algorithms of load balancing",
                "type": "string",
                "default": "roundrobin"
            },
            "checks": health_checker(),
            "hash_on": {
                "type": "string",
                "default": "vars",
                "enum": ["vars", "header", "cookie", "consumer", "vars_combinations"]
            },
            "key": {"description": "the key of chash for dynamic load balancing", "type": "string"},
            "scheme": {
                "default": "http",
                "enum": ["grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "kafka"],
                "description": "The scheme of the upstream. For L7 proxy, it can be one of grpc/grpcs/http/https. For L4 proxy, it can be one of tcp/tls/udp. For specific protocols, it can be kafka."
            },
            "discovery_type": {"description": "discovery type", "type": "string"},
            "discovery_args": {
                "type": "object",
                "properties": {
                    "namespace_id": {"description": "namespace id", "type": "string"},
                    "group_name": {"description": "group name", "type": "string"}
                }
            },
            "pass_host": {
                "description": "mod of host passing",
                "type": "string",
                "enum": ["pass", "node", "rewrite"],
                "default": "pass"
            },
            "upstream_host": host_def(),
            "service_name": {"type": "string", "maxLength": 256, "minLength": 1}
        })),
        "oneOf": [
            {"required": ["nodes"]},
            {"required": ["service_name", "discovery_type"]}
        ],
        "additionalProperties": false
    })
}

/// `upstream_hash_vars_schema`: the chash key when `hash_on` is `vars`.
pub fn upstream_hash_vars_schema() -> Value {
    json!({
        "type": "string",
        "pattern": "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$"
    })
}

/// `upstream_hash_header_schema`: the chash key for `header` and `cookie`.
pub fn upstream_hash_header_schema() -> Value {
    json!({"type": "string", "pattern": "^[a-zA-Z0-9-_]+$"})
}
