//! `DELETE /apisix/admin/<resource>/<id>[?force=true]` and the reference checks that block it
//! (REFERENCE.md §2.7, plus ours: an upstream still used by a stream route).
//!
//! - stream route: another stream route names it as `protocol.superior_id`;
//! - service: a stream route has `service_id` = it;
//! - upstream: a service, then a stream route, has `upstream_id` = it or names it in
//!   `traffic-split` (`plugin in <resource> [<id>]`).
//!
//! `?force=true` (exactly) skips the checks.

use hyper::StatusCode;
use model::envelope::Deleted;
use model::ResourceKind;
use serde_json::Value;

use super::{stored_id, Call};
use crate::admin::response::{HandlerResult, Reply};
use crate::store::KeyValue;

/// DELETE one object.
pub(crate) async fn delete(call: &Call<'_>) -> HandlerResult {
    let Some(id) = call.id.as_deref() else {
        return Err(call.missing_id());
    };
    if call.args.get("force") != Some("true") {
        if let Some(message) = blocking_reference(call, id).await? {
            return Err(Reply::bad_request(message));
        }
    }
    let key = call.key(id);
    match call.ctx.store.delete(&key).await? {
        None => Err(Reply::key_not_found()),
        Some(_) => Ok(Reply::json(
            StatusCode::OK,
            &Deleted {
                deleted: "1".to_owned(),
                key,
            },
        )),
    }
}

/// The message of the first reference that blocks deleting `id`, if any.
async fn blocking_reference(call: &Call<'_>, id: &str) -> Result<Option<String>, Reply> {
    match call.kind {
        ResourceKind::StreamRoutes => {
            let routes = list(call, ResourceKind::StreamRoutes).await?;
            Ok(routes
                .iter()
                .find(|route| {
                    route
                        .value
                        .pointer("/protocol/superior_id")
                        .and_then(model::types::id_string)
                        .is_some_and(|superior| superior == id)
                })
                .map(|route| {
                    format!(
                        "can not delete this stream route directly, stream route [{}] is still using it as superior_id",
                        stored_id(&route.key, &route.value)
                    )
                }))
        }
        ResourceKind::Services => {
            let routes = list(call, ResourceKind::StreamRoutes).await?;
            Ok(routes
                .iter()
                .find(|route| field_is(&route.value, "service_id", id))
                .map(|route| {
                    format!(
                        "can not delete this service directly, stream_route [{}] is still using it now",
                        stored_id(&route.key, &route.value)
                    )
                }))
        }
        ResourceKind::Upstreams => {
            let services = list(call, ResourceKind::Services).await?;
            if let Some(message) = upstream_user(&services, id, "service") {
                return Ok(Some(message));
            }
            let routes = list(call, ResourceKind::StreamRoutes).await?;
            Ok(upstream_user(&routes, id, "stream_route"))
        }
        ResourceKind::Ssls | ResourceKind::PluginMetadata => Ok(None),
    }
}

/// The stored objects of `kind` (placeholders skipped).
async fn list(call: &Call<'_>, kind: ResourceKind) -> Result<Vec<KeyValue>, Reply> {
    let (items, _) = call.ctx.store.list(&call.ctx.dir_prefix(kind)).await?;
    Ok(items
        .into_iter()
        .filter(|item| item.value.is_object())
        .collect())
}

/// Whether `value[field]` is the id `id` (numbers compare as their text).
fn field_is(value: &Value, field: &str, id: &str) -> bool {
    value
        .get(field)
        .and_then(model::types::id_string)
        .is_some_and(|found| found == id)
}

/// APISIX's `check_resources_reference` for one collection.
fn upstream_user(items: &[KeyValue], upstream_id: &str, resource_name: &str) -> Option<String> {
    items.iter().find_map(|item| {
        let user = stored_id(&item.key, &item.value);
        if traffic_split_uses(&item.value, upstream_id) {
            return Some(format!(
                "can not delete this upstream, plugin in {resource_name} [{user}] is still using it now"
            ));
        }
        field_is(&item.value, "upstream_id", upstream_id).then(|| {
            format!("can not delete this upstream, {resource_name} [{user}] is still using it now")
        })
    })
}

/// Whether `plugins.traffic-split.rules[].weighted_upstreams[].upstream_id` names the upstream.
fn traffic_split_uses(value: &Value, upstream_id: &str) -> bool {
    value
        .pointer("/plugins/traffic-split/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("weighted_upstreams").and_then(Value::as_array))
        .flatten()
        .any(|weighted| field_is(weighted, "upstream_id", upstream_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value,
            create_revision: 1,
            mod_revision: 1,
            lease: 0,
        }
    }

    #[test]
    fn traffic_split_reference_is_reported_as_plugin_use() {
        let services = [kv(
            "/apisix/services/s1",
            json!({"id": "s1", "plugins": {"traffic-split": {"rules": [
                {"weighted_upstreams": [{"upstream_id": 5, "weight": 1}]}
            ]}}}),
        )];
        assert_eq!(
            upstream_user(&services, "5", "service").as_deref(),
            Some("can not delete this upstream, plugin in service [s1] is still using it now")
        );
    }

    #[test]
    fn unrelated_objects_do_not_block() {
        let routes = [kv("/apisix/stream_routes/1", json!({"upstream_id": "2"}))];
        assert_eq!(upstream_user(&routes, "3", "stream_route"), None);
    }
}
