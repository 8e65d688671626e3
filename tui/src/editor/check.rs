//! The editor's live check: the body as it stands goes through `model::validate::check_write`
//! (the Admin API's own check) after every edit, so a problem shows, with its JSON path, while
//! the user types. What the dashboard cannot know is given the benefit of the doubt, and the
//! server stays the judge at save time: every plugin this gateway knows counts as enabled, the
//! route's own xRPC protocol counts as configured, and services and SSLs it references count
//! as existing. Upstreams and superior routes are checked against the Admin API lists (when
//! the dashboard could read them).

use model::json_path::JsonPath;
use model::validate::{check_write, references_of, CheckContext, WriteMethod};
use model::ResourceKind;
use serde_json::Value;

use crate::source::Snapshot;

/// What the dashboard knows of the other stored objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Stored upstream ids; `None` when the Admin API list is not available.
    pub upstreams: Option<Vec<String>>,
    /// Stored stream routes `(id, value)`; `None` when not available.
    pub routes: Option<Vec<(String, Value)>>,
}

impl Known {
    /// What `snapshot` holds.
    pub fn of(snapshot: &Snapshot) -> Known {
        if snapshot.admin_error.is_some() {
            return Known::default();
        }
        Known {
            upstreams: Some(
                snapshot
                    .admin_upstreams
                    .iter()
                    .filter_map(|u| u.id.clone())
                    .collect(),
            ),
            routes: Some(
                snapshot
                    .admin_routes
                    .iter()
                    .map(|r| (r.id.clone(), r.value.clone()))
                    .collect(),
            ),
        }
    }

    fn context(&self, body: &Value) -> CheckContext {
        let plugins = model::plugins::all().iter().map(|p| p.name.to_owned());
        let protocol = body
            .get("protocol")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str);
        let mut ctx = CheckContext::new(
            plugins.collect(),
            protocol.into_iter().map(str::to_owned).collect(),
        );
        for (kind, id) in references_of(ResourceKind::StreamRoutes, body) {
            let found = match kind {
                ResourceKind::Upstreams => match &self.upstreams {
                    Some(ids) => ids.contains(&id).then_some(Value::Null),
                    None => Some(Value::Null),
                },
                ResourceKind::StreamRoutes => match &self.routes {
                    Some(routes) => routes
                        .iter()
                        .find(|(r, _)| *r == id)
                        .map(|(_, v)| v.clone()),
                    None => Some(Value::Null),
                },
                _ => Some(Value::Null),
            };
            if let Some(value) = found {
                ctx.add_ref(kind, id, value);
            }
        }
        ctx
    }
}

/// The Admin API's verdict on a PUT of `body` as stream route `id`: the message and its path.
pub fn check_route(id: &str, body: &Value, known: &Known) -> Result<(), (JsonPath, String)> {
    let ctx = known.context(body);
    check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        Some(id),
        Some(body),
        &ctx,
    )
    .map(drop)
    .map_err(|e| (e.path, e.message))
}

/// The 0-based line of `text` (pretty JSON) where the member at `path` starts: each key is
/// searched for after the previous one. `None` for the root or a key not found.
pub fn line_of(text: &str, path: &JsonPath) -> Option<usize> {
    let mut at = 0;
    let mut found = false;
    for key in path.key_names() {
        let quoted = Value::from(key).to_string();
        let mut from = at;
        loop {
            let pos = from + text.get(from..)?.find(&quoted)?;
            let after = pos + quoted.len();
            if text[after..].trim_start().starts_with(':') {
                at = after;
                found = true;
                break;
            }
            from = after;
        }
    }
    found.then(|| text[..at].matches('\n').count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bad_timeout_is_reported_at_its_path() {
        let body = json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "timeout": {"connect": 1}}});
        let (path, msg) = check_route("1", &body, &Known::default()).expect_err("invalid");
        assert_eq!(path.to_string(), "$.upstream.timeout");
        assert!(msg.contains(r#"property "send" is required"#), "{msg}");
    }

    #[test]
    fn unknown_upstream_ids_fail_only_when_the_list_is_known() {
        let body = json!({"upstream_id": "9"});
        assert!(check_route("1", &body, &Known::default()).is_ok());
        let known = Known {
            upstreams: Some(vec!["1".into()]),
            routes: Some(Vec::new()),
        };
        let (path, _) = check_route("1", &body, &known).expect_err("no upstream 9");
        assert_eq!(path.to_string(), "$.upstream_id");
        assert!(check_route("1", &json!({"upstream_id": "1"}), &known).is_ok());
    }

    #[test]
    fn known_plugins_and_referenced_services_pass() {
        let body =
            json!({"service_id": "s", "plugins": {"syslog": {"host": "127.0.0.1", "port": 514}}});
        assert!(check_route("1", &body, &Known::default()).is_ok());
        let (path, _) = check_route("1", &json!({"plugins": {"nope": {}}}), &Known::default())
            .expect_err("unknown plugin");
        assert_eq!(path.to_string(), "$.plugins.nope");
    }

    #[test]
    fn line_of_finds_nested_keys_in_order() {
        let text = "{\n  \"timeout\": 1,\n  \"upstream\": {\n    \"nodes\": {},\n    \"timeout\": {\n      \"connect\": 1\n    }\n  }\n}";
        let path = JsonPath::keys(["upstream", "timeout"]);
        assert_eq!(line_of(text, &path), Some(4));
        assert_eq!(
            line_of(text, &JsonPath::keys(["upstream", "timeout", "connect"])),
            Some(5)
        );
        assert_eq!(line_of(text, &JsonPath::keys(["missing"])), None);
        assert_eq!(line_of(text, &JsonPath::root()), None);
    }
}
