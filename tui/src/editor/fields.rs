//! The form's fields: what each one edits in the stream route (its JSON path), how its text
//! becomes a JSON value, and which field a validation error's path points at.

use model::json_path::JsonPath;
use serde_json::{Map, Value};

/// How a field's text becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The route id (the PUT path, not in the body).
    Id,
    /// A string.
    Text,
    /// An integer (range checks are the model's).
    Integer,
    /// A number of seconds.
    Number,
    /// `host:port=weight,...` into APISIX's hash form.
    Nodes,
    /// A JSON object, on one line.
    Json,
}

/// One form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The label.
    pub label: &'static str,
    /// Where it lives in the route.
    pub path: &'static [&'static str],
    /// How its text is read.
    pub kind: FieldKind,
    /// The hint shown while it is empty.
    pub hint: &'static str,
}

const fn field(
    label: &'static str,
    path: &'static [&'static str],
    kind: FieldKind,
    hint: &'static str,
) -> Field {
    Field {
        label,
        path,
        kind,
        hint,
    }
}

/// The form fields, in display order.
#[rustfmt::skip]
pub const FIELDS: [Field; 14] = [
    field("id", &["id"], FieldKind::Id, "route id (the PUT path)"),
    field("name", &["name"], FieldKind::Text, "optional"),
    field("remote_addr", &["remote_addr"], FieldKind::Text, "client IP or CIDR"),
    field("server_addr", &["server_addr"], FieldKind::Text, "local IP the client reached"),
    field("server_port", &["server_port"], FieldKind::Integer, "local port the client reached"),
    field("sni", &["sni"], FieldKind::Text, "TLS server name"),
    field("upstream_id", &["upstream_id"], FieldKind::Text, "stored upstream id, or use nodes"),
    field("nodes", &["upstream", "nodes"], FieldKind::Nodes, "host:port=weight,... (weight 1 by default)"),
    field("type", &["upstream", "type"], FieldKind::Text, "roundrobin, chash, ewma, least_conn"),
    field("retries", &["upstream", "retries"], FieldKind::Integer, "retries on other nodes"),
    field("timeout.connect", &["upstream", "timeout", "connect"], FieldKind::Number, "timeout seconds (all three or none)"),
    field("timeout.send", &["upstream", "timeout", "send"], FieldKind::Number, "timeout seconds"),
    field("timeout.read", &["upstream", "timeout", "read"], FieldKind::Number, "timeout seconds"),
    field("plugins", &["plugins"], FieldKind::Json, r#"JSON: {"limit-conn": {...}}"#),
];

/// Index of `id` in [`FIELDS`].
pub const ID: usize = 0;
/// Index of `upstream_id` in [`FIELDS`].
pub const UPSTREAM_ID: usize = 6;
/// Index of `nodes` in [`FIELDS`].
pub const NODES: usize = 7;
/// Index of the timeout `connect` in [`FIELDS`].
pub const TIMEOUT: usize = 10;

/// The value at `path` inside `value`.
pub fn lookup<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// The field a validation error at `path` belongs to: the one whose path is the longest
/// prefix of it (`$.upstream.timeout` itself goes to `connect`, `$.upstream` to `nodes`).
pub fn field_of(path: &JsonPath) -> Option<usize> {
    let keys: Vec<&str> = path.key_names().collect();
    match keys.as_slice() {
        ["upstream"] => return Some(NODES),
        ["upstream", "timeout"] => return Some(TIMEOUT),
        ["snis", ..] => return Some(5),
        _ => {}
    }
    FIELDS
        .iter()
        .enumerate()
        .filter(|(_, f)| keys.starts_with(f.path))
        .max_by_key(|(_, f)| f.path.len())
        .map(|(i, _)| i)
}

/// A field's text for a stored value.
pub fn text_of(value: &Value, field: &Field) -> String {
    match (field.kind, lookup(value, field.path)) {
        (FieldKind::Nodes, _) => nodes_text(value),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(Value::Number(n))) => n.to_string(),
        (FieldKind::Json, Some(v @ Value::Object(m))) if !m.is_empty() => v.to_string(),
        _ => String::new(),
    }
}

fn nodes_text(value: &Value) -> String {
    let nodes = lookup(value, &["upstream", "nodes"])
        .cloned()
        .and_then(|n| serde_json::from_value::<model::types::Nodes>(n).ok());
    nodes
        .map(|n| {
            n.to_list()
                .iter()
                .map(|node| match node.port {
                    Some(port) => format!("{}:{port}={}", node.host, node.weight),
                    None => format!("{}={}", node.host, node.weight),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Parses `host:port=weight,...` (weight defaults to 1) into APISIX's hash form.
pub fn parse_nodes(input: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (addr, weight) = match part.split_once('=') {
            Some((a, w)) => {
                let w: u32 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("node {part}: weight must be a non-negative integer"))?;
                (a.trim(), w)
            }
            None => (part, 1),
        };
        let (host, port) = model::types::split_host_port(addr);
        if host.is_empty() || port.is_none() {
            return Err(format!("node {part}: expected host:port[=weight]"));
        }
        out.insert(addr.to_owned(), Value::from(weight));
    }
    Ok(out)
}

/// The JSON value of a field's text; `Ok(None)` when it is empty.
pub fn value_of(field: &Field, text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let label = field.label;
    let value = match field.kind {
        FieldKind::Id | FieldKind::Text => Value::from(text),
        FieldKind::Integer => Value::from(
            text.parse::<i64>()
                .map_err(|_| format!("{label}: {text} is not an integer"))?,
        ),
        FieldKind::Number => {
            let n: f64 = text
                .parse()
                .map_err(|_| format!("{label}: {text} is not a number"))?;
            if n.fract() == 0.0 && n.abs() < 1e15 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            }
        }
        FieldKind::Nodes => Value::Object(parse_nodes(text)?),
        FieldKind::Json => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err(format!("{label}: must be a JSON object")),
            Err(e) => return Err(format!("{label}: {e}")),
        },
    };
    Ok(Some(value))
}

/// Sets (`Some`) or removes (`None`) the value at `path`, making the objects on the way.
pub fn set_at(body: &mut Map<String, Value>, path: &[&str], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut obj = body;
    for key in parents {
        if value.is_none() && !obj.get(*key).is_some_and(Value::is_object) {
            return;
        }
        let slot = obj.entry(*key).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        obj = next;
    }
    match value {
        Some(v) => {
            obj.insert((*last).to_owned(), v);
        }
        None => {
            obj.shift_remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_paths_land_on_their_fields() {
        let at = |keys: &[&str]| field_of(&JsonPath::keys(keys.iter().copied()));
        assert_eq!(at(&["server_port"]), Some(4));
        assert_eq!(at(&["upstream", "timeout", "read"]), Some(12));
        assert_eq!(at(&["upstream", "timeout"]), Some(TIMEOUT));
        assert_eq!(at(&["upstream", "nodes", "1.2.3.4:0"]), Some(NODES));
        assert_eq!(at(&["upstream"]), Some(NODES));
        assert_eq!(at(&["plugins", "limit-conn", "conn"]), Some(13));
        assert_eq!(at(&["labels"]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn values_are_typed_and_empty_means_unset() {
        let f = |i: usize, t: &str| value_of(&FIELDS[i], t);
        assert_eq!(f(4, " 9100 "), Ok(Some(json!(9100))));
        assert!(f(4, "http").is_err());
        assert_eq!(f(10, "1.5"), Ok(Some(json!(1.5))));
        assert_eq!(f(10, "3"), Ok(Some(json!(3))));
        assert_eq!(
            f(13, r#"{"limit-conn": {}}"#),
            Ok(Some(json!({"limit-conn": {}})))
        );
        assert!(f(13, "[1]").is_err());
        assert_eq!(f(9, ""), Ok(None));
    }

    #[test]
    fn set_at_builds_and_prunes_nested_objects() {
        let mut body = Map::new();
        set_at(&mut body, &["upstream", "timeout", "read"], Some(json!(3)));
        assert_eq!(
            Value::Object(body.clone()),
            json!({"upstream": {"timeout": {"read": 3}}})
        );
        set_at(&mut body, &["upstream", "timeout", "read"], None);
        set_at(&mut body, &["plugins", "x"], None);
        assert_eq!(Value::Object(body), json!({"upstream": {"timeout": {}}}));
    }
}
