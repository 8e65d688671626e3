//! The write check of the Admin API, in APISIX's order (REFERENCE.md §2.5–§2.7), with its
//! exact texts. Used by the Admin API, the store watcher (bad stored objects are skipped), the
//! standalone YAML loader and `apisixctl validate`. [`check_document_item`] checks one item of
//! a whole configuration document (`POST /apisix/admin/configs/validate`).
//!
//! Flow: the caller first asks [`references_of`] which other objects the body refers to,
//! fetches them from its store, and passes them in [`CheckContext::refs`] (keyed by kind and
//! the id as APISIX prints it: `"1"` for `1`); [`check_write`] then runs: body present → id
//! rules → forbidden properties → JSON schema → resource checks. PATCH: merge the patch into
//! the stored object with [`merge_patch`] (or [`set_sub_path`]), then call [`check_write`]
//! with [`WriteMethod::Patch`] on the result (the time fields are then allowed).
//!
//! # Messages (the `error_msg` of a 400), in check order
//!
//! Common (§2.5):
//! - `missing configurations`
//! - `missing <kind> id` (PUT with no id in path or body; kinds: `stream route`, `upstream`,
//!   `service`, `ssl`)
//! - `wrong <kind> id, do not need it` (POST with an id in the path or the body)
//! - `wrong <kind> id` (PUT whose body id differs from the path id)
//! - `the property is forbidden:  create_time` (two spaces; also `update_time`,
//!   `upstream.create_time`, `plugins.create_time`, ...)
//! - `invalid configuration: <jsonschema message>` (see [`crate::jsonschema`])
//!
//! Stream routes (§2.6):
//! - `failed to fetch upstream info by upstream id [<id>], response code: 404`
//! - `failed to fetch service info by service id [<id>], response code: 404`
//! - `stream route can not set itself as superior_id`
//! - `failed to fetch stream routes[<id>], response code: 404`
//! - `protocol mismatch: subordinate protocol [<a>] does not match superior protocol [<b>]`
//! - `invalid plugin conf <json> for plugin [<name>]`
//! - `unknown plugin [<name>]`
//! - `failed to check the configuration of stream plugin [<name>]: <err>` (including
//!   `invalid ip address: <x>` for ip-restriction and
//!   `failed to validate the 'vars' expression: <err>` for traffic-split)
//! - `invalid remote_addr: <v>`, `invalid server_addr: <v>`
//! - `unknown protocol [<name>]`, then the raw jsonschema message of the protocol `conf`
//! - ours: `snis` together with `sni` → `invalid configuration: value wasn't supposed to match
//!   schema` (APISIX's `not: {required: [sni, snis]}` from PR #13911)
//!
//! Upstreams (`/upstreams`, and a service's inline upstream; a stream route's inline upstream
//! gets only the schema):
//! - `invalid configuration: IPv6 address must be enclosed with '[' and ']'` (before the schema)
//! - `invalid port <p>` (hash-form node key)
//! - `failed to fetch ssl info by ssl id [<id>], response code: 404` / `..., wrong ssl type`
//! - ``` `upstream_host` can't be empty when `pass_host` is `rewrite` ```
//! - `failed to parse cert: PEM_read_bio_X509_AUX() failed`,
//!   `failed to parse key: PEM_read_bio_PrivateKey() failed`,
//!   `failed to decrypt previous encrypted key` (`tls.client_cert`/`client_key`)
//! - `missing key` (chash without key, unless `hash_on: consumer`)
//! - `invalid configuration: failed to match pattern "<re>" with "<key>"` (chash key)
//!
//! Services: the schema, the inline upstream's checks, the `upstream_id` reference, then
//! plugins with APISIX's HTTP-checker texts: `unknown plugin [<name>]`,
//! `failed to check the configuration of plugin <name> err: <err>`.
//!
//! SSLs: the schema (`invalid configuration: then clause did not match` when a server cert
//! lacks `sni`/`snis`), the cert/key texts above, `mismatched number of certs and keys`,
//! `failed to handle cert-key pair[<i>]: <err>`, `failed to validate client_cert: <err>`.
//!
//! Plugin metadata: `missing plugin name`, `invalid plugin name`,
//! `invalid configuration: <jsonschema message>`.
//!
//! PATCH sub-paths: `invalid sub-path: /<path>`.
//!
//! Deletes ([`check_delete`]):
//! - `can not delete this stream route directly, stream route [<id>] is still using it as superior_id`
//! - `can not delete this service directly, stream_route [<id>] is still using it now`
//! - `can not delete this upstream, plugin in service [<id>] is still using it now`,
//!   `can not delete this upstream, service [<id>] is still using it now`, and ours (APISIX
//!   does not check stream routes): `... stream_route [<id>] is still using it now`,
//!   `... plugin in stream_route [<id>] is still using it now`

mod delete;
mod document;
mod patch;
mod ssl;
mod stream_route;
mod upstream;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_resources;

use std::collections::HashMap;

use serde_json::Value;

use crate::json_path::JsonPath;
use crate::jsonschema::{self, lua_tostring, SchemaError};
use crate::plugins::{check_plugins_at, plugin_metadata_schema, CheckStyle, PluginError};
use crate::schema::resource_schema;
use crate::ResourceKind;

pub use delete::check_delete;
pub use document::check_document_item;
pub use patch::{merge_patch, set_sub_path};

/// A rejected write: `message` is the exact `error_msg` APISIX returns (status 400); `path`
/// is where in the checked object the fault is (the root when the object as a whole is at
/// fault). Displays as the message alone, so every `error_msg` stays APISIX's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub message: String,
    pub path: JsonPath,
}

impl ValidationError {
    /// An error about the object as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        ValidationError {
            message: message.into(),
            path: JsonPath::root(),
        }
    }

    /// An error about the value at `path`.
    pub fn at(path: JsonPath, message: impl Into<String>) -> Self {
        ValidationError {
            message: message.into(),
            path,
        }
    }

    /// An error about the member `key` of the checked object.
    pub fn at_key(key: &str, message: impl Into<String>) -> Self {
        Self::at(JsonPath::keys([key]), message)
    }

    /// This error seen from the object that holds the checked one under `key`.
    pub fn under_key(mut self, key: &str) -> Self {
        self.path = self.path.under_key(key);
        self
    }
}

/// The HTTP method of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    Put,
    Post,
    Patch,
}

/// What the checks need to know beyond the body.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Names from config.yaml `stream_plugins` (a plugin not listed is `unknown plugin [x]`).
    pub stream_plugins: Vec<String>,
    /// Names from config.yaml `xrpc.protocols`.
    pub xrpc_protocols: Vec<String>,
    /// The referenced objects that exist, keyed by kind and id (see [`references_of`]).
    pub refs: HashMap<(ResourceKind, String), Value>,
}

impl CheckContext {
    /// A context with these enabled plugins and xRPC protocols and no references yet.
    pub fn new(stream_plugins: Vec<String>, xrpc_protocols: Vec<String>) -> Self {
        CheckContext {
            stream_plugins,
            xrpc_protocols,
            refs: HashMap::new(),
        }
    }

    /// Records that the referenced object `kind`/`id` exists (ids as [`references_of`]
    /// returns them).
    pub fn add_ref(&mut self, kind: ResourceKind, id: impl Into<String>, value: Value) {
        self.refs.insert((kind, id.into()), value);
    }
}

/// Options of [`check_stored_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredCheck {
    /// Skip plugins that are unknown or not enabled instead of rejecting the object, as
    /// APISIX's data plane does with etcd (in file mode it rejects them).
    pub skip_unknown_plugins: bool,
}

/// Whether a check is a write (Admin API) or a stored object (watcher, YAML loader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Write,
    Stored { skip_unknown_plugins: bool },
}

impl Mode {
    fn is_write(self) -> bool {
        self == Mode::Write
    }

    fn skip_unknown_plugins(self) -> bool {
        matches!(
            self,
            Mode::Stored {
                skip_unknown_plugins: true
            }
        )
    }
}

/// A schema failure: `invalid configuration: <msg>` on writes, the bare message for stored
/// objects (as APISIX logs them).
fn schema_error(mode: Mode, e: SchemaError) -> ValidationError {
    match mode {
        Mode::Write => ValidationError::at(e.path, format!("invalid configuration: {}", e.message)),
        Mode::Stored { .. } => ValidationError::at(e.path, e.message),
    }
}

/// A plugin's failure, pointing at `plugins.<name>`.
pub(crate) fn plugin_error(e: PluginError) -> ValidationError {
    let path = JsonPath::keys(["plugins", e.plugin.as_str()]).join(e.path);
    ValidationError::at(path, e.message)
}

/// Lua truthiness of a decoded JSON value (everything but `false`; null is a userdata).
fn truthy(v: &Value) -> bool {
    v != &Value::Bool(false)
}

fn ref_exists<'a>(ctx: &'a CheckContext, kind: ResourceKind, id: &str) -> Option<&'a Value> {
    ctx.refs.get(&(kind, id.to_owned()))
}

fn id_ref(kind: ResourceKind, v: Option<&Value>, out: &mut Vec<(ResourceKind, String)>) {
    if let Some(v @ (Value::String(_) | Value::Number(_))) = v {
        let entry = (kind, lua_tostring(v));
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
}

fn traffic_split_refs(plugins: Option<&Value>, out: &mut Vec<(ResourceKind, String)>) {
    let rules = plugins
        .and_then(|p| p.get("traffic-split"))
        .and_then(|t| t.get("rules"))
        .and_then(Value::as_array);
    for rule in rules.into_iter().flatten() {
        let ups = rule.get("weighted_upstreams").and_then(Value::as_array);
        for up in ups.into_iter().flatten() {
            id_ref(ResourceKind::Upstreams, up.get("upstream_id"), out);
        }
    }
}

/// The objects `body` refers to (`upstream_id`, `service_id`, `protocol.superior_id`,
/// `tls.client_cert_id`, traffic-split `upstream_id`s), so the caller can fetch them. Ids are
/// printed as APISIX prints them (`1`, not `1.0`). The traffic-split ids are returned for the
/// caller's convenience; like APISIX, [`check_write`] does not require them to exist.
pub fn references_of(kind: ResourceKind, body: &Value) -> Vec<(ResourceKind, String)> {
    let mut out = Vec::new();
    match kind {
        ResourceKind::StreamRoutes => {
            id_ref(ResourceKind::Upstreams, body.get("upstream_id"), &mut out);
            id_ref(ResourceKind::Services, body.get("service_id"), &mut out);
            let superior = body.get("protocol").and_then(|p| p.get("superior_id"));
            id_ref(ResourceKind::StreamRoutes, superior, &mut out);
            traffic_split_refs(body.get("plugins"), &mut out);
        }
        ResourceKind::Upstreams => {
            let cert = body.get("tls").and_then(|t| t.get("client_cert_id"));
            id_ref(ResourceKind::Ssls, cert, &mut out);
        }
        ResourceKind::Services => {
            id_ref(ResourceKind::Upstreams, body.get("upstream_id"), &mut out);
            let cert = body
                .get("upstream")
                .and_then(|u| u.get("tls"))
                .and_then(|t| t.get("client_cert_id"));
            id_ref(ResourceKind::Ssls, cert, &mut out);
            traffic_split_refs(body.get("plugins"), &mut out);
        }
        ResourceKind::Ssls | ResourceKind::PluginMetadata => {}
    }
    out
}

/// `check_forbidden_properties`: the time fields may not be written.
fn check_forbidden(conf: &Value) -> Result<(), ValidationError> {
    const FORBIDDEN: [&str; 2] = ["create_time", "update_time"];
    let present = |obj: Option<&Value>, field: &str| {
        obj.filter(|o| o.is_object())
            .and_then(|o| o.get(field))
            .is_some_and(truthy)
    };
    for (scope, obj) in [
        ("", Some(conf)),
        ("upstream.", conf.get("upstream")),
        ("plugins.", conf.get("plugins")),
    ] {
        for field in FORBIDDEN {
            if present(obj, field) {
                let path = JsonPath::keys(scope.split('.').filter(|s| !s.is_empty()))
                    .join(JsonPath::keys([field]));
                return Err(ValidationError::at(
                    path,
                    format!("the property is forbidden:  {scope}{field}"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a PUT/POST body (the full object) for `kind`, or a PATCH result (the stored object
/// with the patch merged in).
///
/// `path_id` is the id in the URL, if any (the plugin name for plugin metadata). On success
/// returns the id the object will be stored under (`None` for POST, where the server
/// generates it). APISIX stores the path id (a string) as `id` when there is one, else the
/// body's `id` as it was written.
pub fn check_write(
    kind: ResourceKind,
    method: WriteMethod,
    path_id: Option<&str>,
    body: Option<&Value>,
    ctx: &CheckContext,
) -> Result<Option<String>, ValidationError> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Err(ValidationError::new("missing configurations"));
    };
    let path_id = path_id.filter(|p| !p.is_empty());
    let mut conf = body.clone();
    let mut id = None;
    if kind != ResourceKind::PluginMetadata {
        let need_id = method != WriteMethod::Post;
        let body_id = conf.get("id").filter(|v| truthy(v)).cloned();
        id = path_id
            .map(str::to_owned)
            .or_else(|| body_id.as_ref().map(lua_tostring));
        let name = kind.singular();
        match (need_id, &id) {
            (true, None) => {
                return Err(ValidationError::at_key("id", format!("missing {name} id")))
            }
            (false, Some(_)) => {
                return Err(ValidationError::at_key(
                    "id",
                    format!("wrong {name} id, do not need it"),
                ));
            }
            _ => {}
        }
        if let (Some(body_id), Some(id)) = (&body_id, &id) {
            if lua_tostring(body_id) != *id {
                return Err(ValidationError::at_key("id", format!("wrong {name} id")));
            }
        }
        if let (Value::Object(map), Some(p)) = (&mut conf, path_id) {
            map.insert("id".to_owned(), Value::String(p.to_owned()));
        }
    }
    if method != WriteMethod::Patch {
        check_forbidden(&conf)?;
    }
    match kind {
        ResourceKind::StreamRoutes => {
            stream_route::check_stream_route(&conf, id.as_deref(), ctx, Mode::Write)?;
        }
        ResourceKind::Upstreams => upstream::check_upstream(&conf, ctx, Mode::Write)?,
        ResourceKind::Services => check_service(&conf, ctx, Mode::Write)?,
        ResourceKind::Ssls => ssl::check_ssl(&conf, Mode::Write)?,
        ResourceKind::PluginMetadata => {
            let Some(name) = path_id else {
                return Err(ValidationError::new("missing plugin name"));
            };
            let Some(schema) = plugin_metadata_schema(name) else {
                return Err(ValidationError::new("invalid plugin name"));
            };
            jsonschema::validate_at(schema, &conf).map_err(|e| schema_error(Mode::Write, e))?;
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(id)
}

/// A service: schema, inline upstream, `upstream_id`, plugins.
fn check_service(conf: &Value, ctx: &CheckContext, mode: Mode) -> Result<(), ValidationError> {
    jsonschema::validate_at(resource_schema(ResourceKind::Services), conf)
        .map_err(|e| schema_error(mode, e))?;
    if let Some(up) = conf.get("upstream").filter(|u| truthy(u)) {
        upstream::check_upstream(up, ctx, mode).map_err(|e| e.under_key("upstream"))?;
    }
    if mode.is_write() {
        if let Some(id) = conf.get("upstream_id").filter(|v| truthy(v)) {
            stream_route::check_reference(ctx, ResourceKind::Upstreams, id)
                .map_err(|e| e.under_key("upstream_id"))?;
        }
    }
    if let Some(plugins) = conf.get("plugins").filter(|p| truthy(p)) {
        check_plugins_at(
            plugins,
            &ctx.stream_plugins,
            mode.skip_unknown_plugins(),
            CheckStyle::Http,
        )
        .map_err(plugin_error)?;
    }
    Ok(())
}

/// Checks an object as stored (for the watcher and the YAML loader): schema and resource
/// checks, without the id/forbidden-property rules and the reference checks of a write.
/// Unknown plugins are rejected (file mode); see [`check_stored_with`].
pub fn check_stored(
    kind: ResourceKind,
    id: &str,
    value: &Value,
    ctx: &CheckContext,
) -> Result<(), ValidationError> {
    check_stored_with(kind, id, value, ctx, StoredCheck::default())
}

/// [`check_stored`] with options. Schema failures carry the bare jsonschema message (no
/// `invalid configuration: ` prefix), as APISIX logs them.
pub fn check_stored_with(
    kind: ResourceKind,
    id: &str,
    value: &Value,
    ctx: &CheckContext,
    opts: StoredCheck,
) -> Result<(), ValidationError> {
    let mode = Mode::Stored {
        skip_unknown_plugins: opts.skip_unknown_plugins,
    };
    match kind {
        ResourceKind::StreamRoutes => stream_route::check_stream_route(value, Some(id), ctx, mode),
        ResourceKind::Upstreams => upstream::check_upstream(value, ctx, mode),
        ResourceKind::Services => check_service(value, ctx, mode),
        ResourceKind::Ssls => ssl::check_ssl(value, mode),
        ResourceKind::PluginMetadata => match plugin_metadata_schema(id) {
            Some(schema) => jsonschema::validate_at(schema, value)
                .map_err(|e| ValidationError::at(e.path, e.message)),
            None => Ok(()),
        },
    }
}

/// `POST /apisix/admin/schema/validate/<kind>`: the JSON schema only, bare message.
pub fn check_schema_only(kind: ResourceKind, body: &Value) -> Result<(), ValidationError> {
    jsonschema::validate_at(resource_schema(kind), body)
        .map_err(|e| ValidationError::at(e.path, e.message))
}
