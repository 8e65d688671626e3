//! APISIX's `config_validate.validate_configuration` for a whole configuration document: per
//! resource type, `<type>_conf_version` must be a number, every item passes the resource's
//! checker (references not checked, as APISIX's `skip_references_check`), and ids are unique
//! within a type. Per [`Purpose`]: the first problem, items checked as writes
//! (`PUT /apisix/admin/configs`), or all of them, items checked as APISIX's `config_validate`
//! does (`POST /apisix/admin/configs/validate`).
//! Items of APISIX's HTTP-only types are accepted as they are or refused, per [`HttpOnlyItems`].

use model::validate::{self, CheckContext, WriteMethod};
use model::{resource, ResourceKind};
use serde_json::{json, Map, Value};

use crate::config::lua_type;
use crate::store::etcd::INIT_DIRS;

/// The resource types of a standalone document (APISIX's HTTP and stream etcd directories).
pub(in crate::admin) fn resource_keys() -> &'static [&'static str] {
    INIT_DIRS
}

/// `<type>_conf_version`.
pub(in crate::admin) fn conf_version_key(key: &str) -> String {
    format!("{key}_conf_version")
}

/// Lua's `tostring` of an id (numbers as numbers, strings as is).
fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the check does with the items of APISIX's HTTP-only types (`routes`, `consumers`, ...;
/// [`model::resource::HTTP_ONLY_RESOURCES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::admin) enum HttpOnlyItems {
    /// Accepted as they are (API-driven standalone keeps them and serves them back).
    Accept,
    /// Each one refused with [`model::resource::http_only_refusal`] (the normal mode stores none).
    Refuse,
}

/// Which endpoint checks the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::admin) enum Purpose {
    /// `PUT /apisix/admin/configs` (standalone): the first problem; each item is checked as a
    /// `PUT` of it (`model::validate::check_write`), so it needs the id it is stored under.
    Replace,
    /// `POST /apisix/admin/configs/validate`: every problem; each item is checked as APISIX's
    /// `config_validate` does (`model::validate::check_document_item`: no id needed).
    Validate,
}

/// Checks `doc`. `Ok(())` when valid; otherwise the first error message ([`Purpose::Replace`])
/// or APISIX's `errors` entries ([`Purpose::Validate`]).
pub(in crate::admin) fn validate_configuration(
    doc: &Map<String, Value>,
    base: &CheckContext,
    http_only: HttpOnlyItems,
    purpose: Purpose,
) -> Result<(), Problems> {
    let collect_all = purpose == Purpose::Validate;
    let mut problems = Vec::new();
    let ctx = references(doc, base);
    for &key in resource_keys() {
        let cv_key = conf_version_key(key);
        if let Some(version) = doc.get(&cv_key).filter(|v| !v.is_number()) {
            if !collect_all {
                return Err(Problems::First(format!("{cv_key} must be a number")));
            }
            problems.push(json!({
                "resource_type": key,
                "error": format!("{cv_key} must be a number, got {}", lua_type(version)),
            }));
        }
        let Some(Value::Array(items)) = doc.get(key) else {
            continue;
        };
        let mut ids: Vec<Value> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let resource_id = item
                .get("id")
                .or_else(|| item.get("username"))
                .cloned()
                .unwrap_or_else(|| Value::String(String::new()));
            // One problem of this item: the answer (PUT), or one entry of the list (validate).
            let mut report = |message: String| {
                if !collect_all {
                    return Err(Problems::First(message));
                }
                problems.push(json!({
                    "resource_type": key,
                    "resource_id": resource_id,
                    "index": index,
                    "error": message,
                }));
                Ok(())
            };
            if let Err(message) = check_item(key, item, &ctx, http_only, purpose) {
                report(message)?;
            }
            let identifier = if key == "consumers" {
                item.get("id").or_else(|| item.get("username"))
            } else {
                item.get("id")
            };
            let Some(identifier) = identifier.filter(|v| !v.is_null()) else {
                continue;
            };
            if ids.contains(identifier) {
                let kind = if key == "consumers" && item.get("id").is_none() {
                    "username"
                } else if key == "consumers" {
                    "credential id"
                } else {
                    "id"
                };
                report(format!(
                    "found duplicate {kind} {} in {key}",
                    id_text(identifier)
                ))?;
            } else {
                ids.push(identifier.clone());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems::All(problems))
    }
}

/// What is wrong with a document.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::admin) enum Problems {
    /// The first problem (PUT).
    First(String),
    /// Every problem, as APISIX's `errors` entries (validate).
    All(Vec<Value>),
}

/// One item through its resource's checker. HTTP-only types are accepted or refused per
/// `http_only`; other types this gateway does not model (`plugins`) are accepted as they are.
fn check_item(
    key: &str,
    item: &Value,
    ctx: &CheckContext,
    http_only: HttpOnlyItems,
    purpose: Purpose,
) -> Result<(), String> {
    if http_only == HttpOnlyItems::Refuse && resource::is_http_only(key) {
        return Err(resource::http_only_refusal(key));
    }
    let Some(kind) = ResourceKind::from_dir(key) else {
        return Ok(());
    };
    if purpose == Purpose::Validate {
        return validate::check_document_item(kind, item, ctx).map_err(|err| err.message);
    }
    let path_id = match kind {
        ResourceKind::PluginMetadata => item.get("id").map(id_text),
        _ => None,
    };
    validate::check_write(kind, WriteMethod::Put, path_id.as_deref(), Some(item), ctx)
        .map(|_| ())
        .map_err(|err| err.message)
}

/// The check context with every reference of the document resolved: to the document's own
/// object when it has one, else to an empty object, so that no reference is checked (APISIX:
/// `skip_references_check`).
fn references(doc: &Map<String, Value>, base: &CheckContext) -> CheckContext {
    let mut ctx = base.clone();
    for &key in resource_keys() {
        let (Some(kind), Some(Value::Array(items))) = (ResourceKind::from_dir(key), doc.get(key))
        else {
            continue;
        };
        for item in items {
            if let Some(id) = item.get("id").filter(|v| !v.is_null()) {
                ctx.add_ref(kind, id_text(id), item.clone());
            }
        }
    }
    for &key in resource_keys() {
        let (Some(kind), Some(Value::Array(items))) = (ResourceKind::from_dir(key), doc.get(key))
        else {
            continue;
        };
        for item in items {
            for reference in validate::references_of(kind, item) {
                ctx.refs.entry(reference).or_insert_with(|| json!({}));
            }
        }
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CheckContext {
        CheckContext::new(vec!["ip-restriction".into()], Vec::new())
    }

    fn doc(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("test documents are objects"),
        }
    }

    #[test]
    fn references_are_not_checked_and_a_valid_document_passes() {
        let d = doc(json!({
            "stream_routes": [{"id": 1, "server_port": 9100, "upstream_id": "missing"}],
            "upstreams": [{"id": "u", "nodes": {"127.0.0.1:1": 1}, "type": "roundrobin"}],
            "stream_routes_conf_version": 3,
        }));
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Replace),
            Ok(())
        );
    }

    #[test]
    fn a_conf_version_that_is_not_a_number_is_named() {
        let d = doc(json!({"upstreams_conf_version": "x"}));
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Replace),
            Err(Problems::First(
                "upstreams_conf_version must be a number".into()
            ))
        );
        let Err(Problems::All(all)) =
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Validate)
        else {
            panic!("expected all problems");
        };
        assert_eq!(
            all[0]["error"],
            "upstreams_conf_version must be a number, got string"
        );
    }

    #[test]
    fn duplicate_ids_within_a_type_are_refused() {
        let up = json!({"id": 1, "nodes": {"127.0.0.1:1": 1}, "type": "roundrobin"});
        let d = doc(json!({"upstreams": [up.clone(), up]}));
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Replace),
            Err(Problems::First("found duplicate id 1 in upstreams".into()))
        );
    }

    #[test]
    fn every_invalid_item_is_listed_with_its_index() {
        let d = doc(json!({
            "upstreams": [
                {"id": 1, "nodes": {"127.0.0.1:1": 1}, "type": "roundrobin"},
                {"id": 2, "type": "nope"},
            ],
            "stream_routes": [{"id": 1, "plugins": {"x-rewrite": {}}}],
        }));
        let Err(Problems::All(all)) =
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Validate)
        else {
            panic!("expected problems");
        };
        assert_eq!(all.len(), 2, "{all:?}");
        let upstream = all
            .iter()
            .find(|p| p["resource_type"] == "upstreams")
            .expect("the upstream problem");
        assert_eq!(
            (upstream["index"].clone(), upstream["resource_id"].clone()),
            (json!(1), json!(2))
        );
    }

    #[test]
    fn http_only_items_are_kept_in_standalone_and_refused_in_the_normal_mode() {
        let d = doc(json!({
            "routes": [{"id": "r1", "uri": "/"}],
            "consumers": [],
            "upstreams": [{"id": 1, "nodes": {"127.0.0.1:1": 1}, "type": "roundrobin"}],
        }));
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Validate),
            Ok(())
        );
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Refuse, Purpose::Validate),
            Err(Problems::All(vec![json!({
                "resource_type": "routes",
                "resource_id": "r1",
                "index": 0,
                "error": "this gateway proxies L4 (TCP/UDP) only and does not store routes",
            })]))
        );
    }

    #[test]
    fn validate_needs_no_ids_but_replace_does() {
        let d = doc(json!({"stream_routes": [{"server_port": 9100, "create_time": 1}]}));
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Refuse, Purpose::Validate),
            Ok(())
        );
        assert_eq!(
            validate_configuration(&d, &ctx(), HttpOnlyItems::Accept, Purpose::Replace),
            Err(Problems::First("missing stream route id".into()))
        );
    }
}
