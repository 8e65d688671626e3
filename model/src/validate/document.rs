//! The check of one item of a whole configuration document (APISIX `config_validate.lua`,
//! behind `POST /apisix/admin/configs/validate`): APISIX calls the resource's checker alone,
//! `checker(item.id, item, false, schema, {skip_references_check = true})`, so an item needs
//! no id and may carry `create_time`/`update_time`; the JSON schema (`invalid configuration:`
//! prefix), the resource's own rules and the plugin checks apply as on a write. References are
//! looked up in the context, so the caller resolves them (to the document's own objects, or to
//! placeholders: APISIX does not check them here).

use serde_json::Value;

use super::{check_service, schema_error, ssl, stream_route, upstream, Mode};
use crate::jsonschema::{self, lua_tostring};
use crate::plugins::plugin_metadata_schema;
use crate::{CheckContext, ResourceKind, ValidationError};

/// Checks `item` of type `kind` from a configuration document (see the module text). For
/// plugin metadata, the item's `id` is the plugin name.
pub fn check_document_item(
    kind: ResourceKind,
    item: &Value,
    ctx: &CheckContext,
) -> Result<(), ValidationError> {
    let id = item
        .get("id")
        .filter(|v| matches!(v, Value::String(_) | Value::Number(_)))
        .map(lua_tostring);
    match kind {
        ResourceKind::StreamRoutes => {
            stream_route::check_stream_route(item, id.as_deref(), ctx, Mode::Write)
        }
        ResourceKind::Upstreams => upstream::check_upstream(item, ctx, Mode::Write),
        ResourceKind::Services => check_service(item, ctx, Mode::Write),
        ResourceKind::Ssls => ssl::check_ssl(item, Mode::Write),
        ResourceKind::PluginMetadata => {
            let Some(name) = id else {
                return Err(ValidationError::new("missing plugin name"));
            };
            let Some(schema) = plugin_metadata_schema(&name) else {
                return Err(ValidationError::new("invalid plugin name"));
            };
            jsonschema::validate_at(schema, item).map_err(|e| schema_error(Mode::Write, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> CheckContext {
        let mut ctx = CheckContext::new(vec!["ip-restriction".into()], Vec::new());
        ctx.add_ref(ResourceKind::Services, "s1", json!({}));
        ctx
    }

    #[test]
    fn an_item_needs_no_id_and_may_carry_time_fields() {
        let route = json!({"server_port": 9100, "service_id": "s1", "labels": {"__ADC_NAME": "a"}});
        assert_eq!(
            check_document_item(ResourceKind::StreamRoutes, &route, &ctx()),
            Ok(())
        );
        let upstream = json!({"nodes": [{"host": "127.0.0.1", "port": 1, "weight": 1}],
            "type": "roundrobin", "create_time": 1, "update_time": 2});
        assert_eq!(
            check_document_item(ResourceKind::Upstreams, &upstream, &ctx()),
            Ok(())
        );
    }

    #[test]
    fn schema_and_resource_rules_still_apply() {
        let bad_port = json!({"server_port": 0});
        let err = check_document_item(ResourceKind::StreamRoutes, &bad_port, &ctx())
            .expect_err("port 0 is refused");
        assert!(err.message.starts_with("invalid configuration: "), "{err}");
        let unknown_plugin = json!({"server_port": 1, "plugins": {"x-rewrite": {}}});
        assert_eq!(
            check_document_item(ResourceKind::StreamRoutes, &unknown_plugin, &ctx())
                .map_err(|e| e.message),
            Err("unknown plugin [x-rewrite]".to_owned())
        );
        assert_eq!(
            check_document_item(ResourceKind::PluginMetadata, &json!({}), &ctx())
                .map_err(|e| e.message),
            Err("missing plugin name".to_owned())
        );
    }
}
