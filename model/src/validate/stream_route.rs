//! The stream route checks after its schema, in APISIX's order (apisix/admin/stream_routes.lua
//! and `stream_route_checker`): upstream_id, service_id, protocol.superior_id, plugins,
//! remote_addr/server_addr, xRPC protocol.

use serde_json::Value;

use super::{plugin_error, ref_exists, schema_error, truthy, Mode};
use crate::ip::validate_cidr_or_ip;
use crate::json_path::JsonPath;
use crate::jsonschema::{self, lua_tostring};
use crate::plugins::{check_plugins_at, CheckStyle};
use crate::schema::{resource_schema, xrpc_conf_schema};
use crate::{CheckContext, ResourceKind, ValidationError};

/// `failed to fetch <kind> info by <kind> id [<id>], response code: 404` unless `ctx.refs`
/// has the object.
pub(crate) fn check_reference(
    ctx: &CheckContext,
    kind: ResourceKind,
    id: &Value,
) -> Result<(), ValidationError> {
    let id = lua_tostring(id);
    if ref_exists(ctx, kind, &id).is_some() {
        return Ok(());
    }
    let name = kind.singular();
    Err(ValidationError::new(format!(
        "failed to fetch {name} info by {name} id [{id}], response code: 404"
    )))
}

fn check_superior(
    conf: &Value,
    own_id: Option<&str>,
    ctx: &CheckContext,
) -> Result<(), ValidationError> {
    let Some(protocol) = conf.get("protocol") else {
        return Ok(());
    };
    let Some(superior_id) = protocol.get("superior_id").filter(|v| truthy(v)) else {
        return Ok(());
    };
    let sid = lua_tostring(superior_id);
    let at_superior = JsonPath::keys(["protocol", "superior_id"]);
    if own_id == Some(sid.as_str()) {
        return Err(ValidationError::at(
            at_superior,
            "stream route can not set itself as superior_id",
        ));
    }
    let Some(superior) = ref_exists(ctx, ResourceKind::StreamRoutes, &sid) else {
        return Err(ValidationError::at(
            at_superior,
            format!("failed to fetch stream routes[{sid}], response code: 404"),
        ));
    };
    let ours = protocol
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(theirs) = superior.get("protocol").and_then(|p| p.get("name")) {
        let theirs = lua_tostring(theirs);
        if theirs != ours {
            return Err(ValidationError::at(
                JsonPath::keys(["protocol", "name"]),
                format!(
                    "protocol mismatch: subordinate protocol [{ours}] does not match superior protocol [{theirs}]"
                ),
            ));
        }
    }
    Ok(())
}

/// `stream_route_checker`: plugins, addresses, protocol.
fn check_runtime_parts(
    conf: &Value,
    ctx: &CheckContext,
    skip_unknown_plugins: bool,
) -> Result<(), ValidationError> {
    if let Some(plugins) = conf.get("plugins").filter(|p| truthy(p)) {
        check_plugins_at(
            plugins,
            &ctx.stream_plugins,
            skip_unknown_plugins,
            CheckStyle::Stream,
        )
        .map_err(plugin_error)?;
    }
    for field in ["remote_addr", "server_addr"] {
        if let Some(addr) = conf.get(field).and_then(Value::as_str) {
            if !validate_cidr_or_ip(addr) {
                return Err(ValidationError::at_key(
                    field,
                    format!("invalid {field}: {addr}"),
                ));
            }
        }
    }
    if let Some(protocol) = conf.get("protocol").filter(|p| p.is_object()) {
        let name = protocol.get("name").map(lua_tostring).unwrap_or_default();
        if !ctx.xrpc_protocols.contains(&name) {
            return Err(ValidationError::at(
                JsonPath::keys(["protocol", "name"]),
                format!("unknown protocol [{name}]"),
            ));
        }
        if let Some(pconf) = protocol.get("conf").filter(|c| truthy(c)) {
            jsonschema::validate_at(xrpc_conf_schema(&name), pconf).map_err(|e| {
                let path = JsonPath::keys(["protocol", "conf"]).join(e.path);
                ValidationError::at(path, e.message)
            })?;
        }
    }
    Ok(())
}

/// Everything after the id and forbidden-property rules. `own_id` is the route's id (for the
/// superior self-reference rule); references are checked only in `Mode::Write`.
pub(crate) fn check_stream_route(
    conf: &Value,
    own_id: Option<&str>,
    ctx: &CheckContext,
    mode: Mode,
) -> Result<(), ValidationError> {
    jsonschema::validate_at(resource_schema(ResourceKind::StreamRoutes), conf)
        .map_err(|e| schema_error(mode, e))?;
    if mode.is_write() {
        if let Some(id) = conf.get("upstream_id").filter(|v| truthy(v)) {
            check_reference(ctx, ResourceKind::Upstreams, id)
                .map_err(|e| e.under_key("upstream_id"))?;
        }
        if let Some(id) = conf.get("service_id").filter(|v| truthy(v)) {
            check_reference(ctx, ResourceKind::Services, id)
                .map_err(|e| e.under_key("service_id"))?;
        }
        check_superior(conf, own_id, ctx)?;
    }
    check_runtime_parts(conf, ctx, mode.skip_unknown_plugins())
}
