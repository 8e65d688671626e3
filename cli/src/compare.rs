//! Comparing a desired object (from flags or a file) with the live one, for `put`'s
//! created/updated/unchanged, `apply`, `diff` and `sync`; and label selectors.
//!
//! Rules: `id`, `create_time`, `update_time` are ignored. The server may fill in schema
//! defaults, so inside nested objects only the keys the desired object sets are compared,
//! and at the top level a live key the desired object lacks counts as a difference unless
//! it holds the kind's default (`type: roundrobin`, `scheme: http`, ...). Arrays compare
//! element by element under the same rules when their lengths agree.

use model::ResourceKind;
use serde_json::{Map, Value};

const IGNORED: [&str; 3] = ["id", "create_time", "update_time"];

/// Top-level defaults a server may store although the writer did not send them.
fn default_of(kind: ResourceKind, key: &str) -> Option<Value> {
    let v = match (kind, key) {
        (ResourceKind::Upstreams, "type") => Value::from("roundrobin"),
        (ResourceKind::Upstreams, "scheme") => Value::from("http"),
        (ResourceKind::Upstreams, "pass_host") => Value::from("pass"),
        (ResourceKind::Upstreams, "hash_on") => Value::from("vars"),
        (ResourceKind::Ssls, "type") => Value::from("server"),
        (ResourceKind::Ssls, "status") => Value::from(1),
        _ => return None,
    };
    Some(v)
}

/// The desired object without the ignored fields.
pub fn desired_view(desired: &Value) -> Value {
    strip_top(desired)
}

fn strip_top(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The live object reduced to what is comparable with `desired` (see the module rules).
pub fn live_view(kind: ResourceKind, live: &Value, desired: &Value) -> Value {
    let live = strip_top(live);
    let desired = strip_top(desired);
    let (Value::Object(l), Value::Object(d)) = (&live, &desired) else {
        return live;
    };
    let mut out = Map::new();
    for (k, lv) in l {
        match d.get(k) {
            Some(dv) => {
                out.insert(k.clone(), prune_nested(lv, dv));
            }
            None if default_of(kind, k).as_ref() == Some(lv) => {}
            None => {
                out.insert(k.clone(), lv.clone());
            }
        }
    }
    Value::Object(out)
}

fn prune_nested(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => Value::Object(
            l.iter()
                .filter_map(|(k, lv)| d.get(k).map(|dv| (k.clone(), prune_nested(lv, dv))))
                .collect(),
        ),
        (Value::Array(l), Value::Array(d)) if l.len() == d.len() => Value::Array(
            l.iter()
                .zip(d)
                .map(|(lv, dv)| prune_nested(lv, dv))
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// The desired and live objects reduced to what can be compared (see the module rules).
/// The server never returns SSL private keys, so `key`/`keys` are compared only when the live
/// object shows them (the certificate, which the key must match, is always compared).
pub fn comparable(kind: ResourceKind, desired: &Value, live: &Value) -> (Value, Value) {
    let mut d = desired_view(desired);
    if kind == ResourceKind::Ssls {
        if let Value::Object(map) = &mut d {
            for secret in ["key", "keys"] {
                if live.get(secret).is_none() {
                    map.remove(secret);
                }
            }
        }
    }
    let l = live_view(kind, live, &d);
    (d, l)
}

/// Whether writing `desired` would change nothing.
pub fn unchanged(kind: ResourceKind, desired: &Value, live: &Value) -> bool {
    let (d, l) = comparable(kind, desired, live);
    same_json(&d, &l)
}

/// Equality where numbers compare by value (`1` == `1.0`) and key order does not matter.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        _ => a == b,
    }
}

/// One line of a field diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// Only live has this value at this path.
    Removed(String, String),
    /// Only desired has this value at this path.
    Added(String, String),
}

/// The field-level diff from `live` (already a [`live_view`], or `Null` when absent) to
/// `desired` (a [`desired_view`]).
pub fn diff_fields(live: &Value, desired: &Value) -> Vec<DiffLine> {
    let mut l = Vec::new();
    let mut d = Vec::new();
    flatten("", live, &mut l);
    flatten("", desired, &mut d);
    let mut out = Vec::new();
    for (path, lv) in &l {
        match d.iter().find(|(p, _)| p == path) {
            Some((_, dv)) if same_json(lv, dv) => {}
            _ => out.push(DiffLine::Removed(path.clone(), lv.to_string())),
        }
    }
    for (path, dv) in &d {
        match l.iter().find(|(p, _)| p == path) {
            Some((_, lv)) if same_json(lv, dv) => {}
            _ => out.push(DiffLine::Added(path.clone(), dv.to_string())),
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let key = if k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    k.clone()
                } else {
                    format!("{k:?}")
                };
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// A label selector: `k=v,k2=v2` (all must match) or `k` (the label exists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<(String, Option<String>)>);

impl Selector {
    /// Parses `k=v[,k=v]`; `None` or empty selects everything.
    pub fn parse(text: Option<&str>) -> anyhow::Result<Self> {
        let mut terms = Vec::new();
        for part in text
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.split_once('=') {
                Some((k, _)) if k.trim().is_empty() => {
                    anyhow::bail!("invalid selector term {part:?}: expected key=value")
                }
                Some((k, v)) => terms.push((k.trim().to_owned(), Some(v.trim().to_owned()))),
                None => terms.push((part.to_owned(), None)),
            }
        }
        Ok(Selector(terms))
    }

    /// Whether the object's `labels` satisfy every term.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.get("labels").and_then(Value::as_object);
        self.0.iter().all(|(k, want)| {
            match (labels.and_then(|l| l.get(k)).and_then(Value::as_str), want) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_timestamps_ids_and_nested_defaults_do_not_count() {
        let desired = json!({"id": 1, "server_port": 9100, "upstream": {"nodes": {"a:1": 1}}});
        let live = json!({"id": "1", "server_port": 9100, "create_time": 1, "update_time": 2,
            "upstream": {"nodes": {"a:1": 1}, "scheme": "http", "hash_on": "vars"}});
        assert!(unchanged(ResourceKind::StreamRoutes, &desired, &live));
    }

    #[test]
    fn removed_top_level_field_is_a_change_unless_default() {
        let desired = json!({"nodes": {"a:1": 1}});
        let live = json!({"nodes": {"a:1": 1}, "type": "roundrobin"});
        assert!(unchanged(ResourceKind::Upstreams, &desired, &live));
        let live = json!({"nodes": {"a:1": 1}, "type": "chash"});
        assert!(!unchanged(ResourceKind::Upstreams, &desired, &live));
        let route_live = json!({"server_port": 1, "sni": "a.com"});
        assert!(!unchanged(
            ResourceKind::StreamRoutes,
            &json!({"server_port": 1}),
            &route_live
        ));
    }

    #[test]
    fn diff_lists_changed_fields_with_paths() {
        let desired =
            json!({"server_port": 9101, "upstream": {"nodes": {"10.0.0.1:80": 1}}, "name": "n"});
        let live = live_view(
            ResourceKind::StreamRoutes,
            &json!({"server_port": 9100, "upstream": {"nodes": {"10.0.0.1:80": 1}}, "sni": "x"}),
            &desired,
        );
        let lines = diff_fields(&live, &desired_view(&desired));
        assert_eq!(
            lines,
            vec![
                DiffLine::Removed("server_port".into(), "9100".into()),
                DiffLine::Removed("sni".into(), "\"x\"".into()),
                DiffLine::Added("server_port".into(), "9101".into()),
                DiffLine::Added("name".into(), "\"n\"".into()),
            ]
        );
        assert!(diff_fields(&Value::Null, &json!({"a": {"b": 1}}))
            .contains(&DiffLine::Added("a.b".into(), "1".into())));
    }

    #[test]
    fn hidden_ssl_keys_do_not_count_but_certificates_do() {
        let desired = json!({"cert": "C", "key": "K", "snis": ["a.com"]});
        let live = json!({"cert": "C", "snis": ["a.com"], "type": "server", "status": 1});
        assert!(unchanged(ResourceKind::Ssls, &desired, &live));
        let rotated = json!({"cert": "C2", "key": "K2", "snis": ["a.com"]});
        assert!(!unchanged(ResourceKind::Ssls, &rotated, &live));
    }

    #[test]
    fn selector_requires_every_term() {
        let sel = Selector::parse(Some("team=core, env")).expect("valid");
        assert!(sel.matches(&json!({"labels": {"team": "core", "env": "prod"}})));
        assert!(!sel.matches(&json!({"labels": {"team": "core"}})));
        assert!(!sel.matches(&json!({"labels": {"team": "edge", "env": "x"}})));
        assert!(Selector::parse(None).expect("empty").matches(&json!({})));
        assert!(Selector::parse(Some("=v")).is_err());
    }
}
