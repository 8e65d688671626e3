//! The delete constraints (REFERENCE.md §2.7) as a pure function over the other stored
//! objects, so the Admin API only has to list them. One documented improvement over APISIX:
//! an upstream still used by a stream route (directly or through traffic-split) is not deleted.

use serde_json::Value;

use crate::jsonschema::lua_tostring;
use crate::{ResourceKind, ValidationError};

fn same_id(v: Option<&Value>, id: &str) -> bool {
    v.is_some_and(|v| matches!(v, Value::String(_) | Value::Number(_)) && lua_tostring(v) == id)
}

fn uses_upstream_in_plugins(value: &Value, id: &str) -> bool {
    let rules = value
        .get("plugins")
        .and_then(|p| p.get("traffic-split"))
        .and_then(|t| t.get("rules"))
        .and_then(Value::as_array);
    rules.into_iter().flatten().any(|rule| {
        let ups = rule.get("weighted_upstreams").and_then(Value::as_array);
        ups.into_iter()
            .flatten()
            .any(|u| same_id(u.get("upstream_id"), id))
    })
}

fn owner_id(value: &Value, fallback: &str) -> String {
    value
        .get("id")
        .map(lua_tostring)
        .unwrap_or_else(|| fallback.to_owned())
}

/// Whether `kind`/`id` may be deleted, given every other stored object as
/// `(kind, id, value)`. The error is the 400 `error_msg` (`?force=true` skips this check).
pub fn check_delete(
    kind: ResourceKind,
    id: &str,
    others: &[(ResourceKind, String, Value)],
) -> Result<(), ValidationError> {
    let of = |k: ResourceKind| others.iter().filter(move |(ok, _, _)| *ok == k);
    match kind {
        ResourceKind::StreamRoutes => {
            for (_, rid, route) in of(ResourceKind::StreamRoutes) {
                let sup = route.get("protocol").and_then(|p| p.get("superior_id"));
                if same_id(sup, id) {
                    return Err(ValidationError::new(format!(
                        "can not delete this stream route directly, stream route [{}] is still using it as superior_id",
                        owner_id(route, rid)
                    )));
                }
            }
        }
        ResourceKind::Upstreams => {
            for (owner_kind, label) in [
                (ResourceKind::Services, "service"),
                (ResourceKind::StreamRoutes, "stream_route"),
            ] {
                for (oid, value) in of(owner_kind).map(|(_, oid, v)| (oid, v)) {
                    if uses_upstream_in_plugins(value, id) {
                        return Err(ValidationError::new(format!(
                            "can not delete this upstream, plugin in {label} [{}] is still using it now",
                            owner_id(value, oid)
                        )));
                    }
                    if same_id(value.get("upstream_id"), id) {
                        return Err(ValidationError::new(format!(
                            "can not delete this upstream, {label} [{}] is still using it now",
                            owner_id(value, oid)
                        )));
                    }
                }
            }
        }
        ResourceKind::Services => {
            for (rid, route) in of(ResourceKind::StreamRoutes).map(|(_, rid, v)| (rid, v)) {
                if same_id(route.get("service_id"), id) {
                    return Err(ValidationError::new(format!(
                        "can not delete this service directly, stream_route [{}] is still using it now",
                        owner_id(route, rid)
                    )));
                }
            }
        }
        ResourceKind::Ssls | ResourceKind::PluginMetadata => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn others() -> Vec<(ResourceKind, String, Value)> {
        vec![
            (
                ResourceKind::StreamRoutes,
                "2".to_owned(),
                json!({"id": "2", "protocol": {"name": "redis", "superior_id": 1}}),
            ),
            (
                ResourceKind::StreamRoutes,
                "3".to_owned(),
                json!({"id": 3, "service_id": "s1", "upstream_id": "u1"}),
            ),
            (
                ResourceKind::Services,
                "s2".to_owned(),
                json!({"id": "s2", "plugins": {"traffic-split": {"rules": [{"weighted_upstreams": [{"upstream_id": "u2"}]}]}}}),
            ),
        ]
    }

    #[test]
    fn superior_route_in_use_cannot_be_deleted() {
        assert_eq!(
            check_delete(ResourceKind::StreamRoutes, "1", &others()).expect_err("blocked").message,
            "can not delete this stream route directly, stream route [2] is still using it as superior_id"
        );
        assert!(check_delete(ResourceKind::StreamRoutes, "3", &others()).is_ok());
    }

    #[test]
    fn service_used_by_a_stream_route_cannot_be_deleted() {
        assert_eq!(
            check_delete(ResourceKind::Services, "s1", &others())
                .expect_err("blocked")
                .message,
            "can not delete this service directly, stream_route [3] is still using it now"
        );
    }

    #[test]
    fn upstream_in_use_cannot_be_deleted() {
        assert_eq!(
            check_delete(ResourceKind::Upstreams, "u2", &others())
                .expect_err("blocked")
                .message,
            "can not delete this upstream, plugin in service [s2] is still using it now"
        );
        assert_eq!(
            check_delete(ResourceKind::Upstreams, "u1", &others())
                .expect_err("blocked")
                .message,
            "can not delete this upstream, stream_route [3] is still using it now"
        );
        assert!(check_delete(ResourceKind::Upstreams, "u9", &others()).is_ok());
    }
}
