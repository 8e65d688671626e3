//! Stand-ins for the `model` functions the Admin API needs but `model` does not expose yet.
//! Each has the signature the admin layer expects; when `model` grows the real one, the body
//! here becomes a one-line call (or the call sites switch to `model` directly):
//!
//! - [`plugin_schema`] → `model::plugins::plugin_schema(name)`;
//! - [`plugin_priority`] → the priority table of `model::plugins`;
//! - [`check_schema_only`] → `model::validate::check_schema_only(kind, body)`.

use model::{ResourceKind, ValidationError};
use serde_json::Value;

/// The JSON schema of stream plugin `name`. `None` until `model::plugins` provides schemas.
pub(crate) fn plugin_schema(name: &str) -> Option<Value> {
    let _ = name;
    None
}

/// The priority of stream plugin `name` (plugins run and are listed in descending priority);
/// `None` for a plugin the gateway does not implement. REFERENCE.md §6.
pub(crate) fn plugin_priority(name: &str) -> Option<i64> {
    match name {
        "ip-restriction" => Some(3000),
        "limit-conn" => Some(1003),
        "mqtt-proxy" => Some(1000),
        "traffic-split" => Some(966),
        "prometheus" => Some(500),
        "syslog" => Some(401),
        _ => None,
    }
}

/// The JSON-schema check of `body` as a `kind` object, with the raw validator message (no
/// `invalid configuration:` prefix, no reference or plugin checks). Until `model` provides it,
/// only the top-level type is checked.
pub(crate) fn check_schema_only(
    kind: ResourceKind,
    body: Option<&Value>,
) -> Result<(), ValidationError> {
    let _ = kind;
    match body {
        Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(ValidationError::new(format!(
            "wrong type: expected object, got {}",
            json_type_name(other)
        ))),
        None => Err(ValidationError::new("wrong type: expected object, got nil")),
    }
}

/// api7/jsonschema's names of JSON types (Lua's, hence `nil`).
fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "table",
        Value::Object(_) => "table",
    }
}
