//! The stream plugins this gateway knows, with APISIX's priorities, schemas and write-time
//! checks (apisix/plugin.lua `stream_check_schema`):
//!
//! | plugin | priority |
//! |---|---|
//! | `ip-restriction` | 3000 |
//! | `limit-conn` | 1003 |
//! | `mqtt-proxy` | 1000 |
//! | `traffic-split` | 966 |
//! | `prometheus` | 500 |
//! | `syslog` | 401 |
//!
//! Messages: `invalid plugin conf <json> for plugin [x]`, `unknown plugin [x]`,
//! `failed to check the configuration of stream plugin [x]: <err>` (services use APISIX's HTTP
//! form `failed to check the configuration of plugin x err: <err>`). A config whose
//! `_meta.disable` is `true` is accepted even when it fails its schema.

mod expr;
mod schemas;

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use crate::json_path::JsonPath;
use crate::jsonschema::{self, cjson_encode, SchemaError};

pub use expr::check_expr;

/// One stream plugin.
#[derive(Debug)]
pub struct PluginInfo {
    /// The plugin name (`limit-conn`).
    pub name: &'static str,
    /// Higher runs first.
    pub priority: i64,
    /// The plugin's `version` field.
    pub version: f64,
    /// The conf schema, with `_meta` injected.
    pub schema: Value,
    /// The plugin-metadata schema, when the plugin has one.
    pub metadata_schema: Option<Value>,
}

static PLUGINS: LazyLock<Vec<PluginInfo>> = LazyLock::new(|| {
    let plugin = |name, priority, schema, metadata_schema| PluginInfo {
        name,
        priority,
        version: 0.1,
        schema,
        metadata_schema,
    };
    vec![
        plugin("ip-restriction", 3000, schemas::ip_restriction(), None),
        plugin("limit-conn", 1003, schemas::limit_conn(), None),
        plugin("mqtt-proxy", 1000, schemas::mqtt_proxy(), None),
        plugin("traffic-split", 966, schemas::traffic_split(), None),
        plugin(
            "prometheus",
            500,
            schemas::prometheus(),
            Some(schemas::prometheus_metadata()),
        ),
        plugin(
            "syslog",
            401,
            schemas::syslog(),
            Some(schemas::syslog_metadata()),
        ),
    ]
});

static EMPTY_METADATA: LazyLock<Value> = LazyLock::new(
    || json!({"type": "object", "$comment": "injected metadata_schema", "properties": {}}),
);

/// APISIX's default `stream_plugins` (apisix/cli/config.lua).
pub const DEFAULT_STREAM_PLUGINS: [&str; 5] = [
    "ip-restriction",
    "limit-conn",
    "mqtt-proxy",
    "syslog",
    "traffic-split",
];

/// [`DEFAULT_STREAM_PLUGINS`] as owned strings, for `CheckContext::stream_plugins`.
pub fn default_stream_plugins() -> Vec<String> {
    DEFAULT_STREAM_PLUGINS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Every plugin this gateway implements, highest priority first.
pub fn all() -> &'static [PluginInfo] {
    &PLUGINS
}

/// The plugin named `name`, if this gateway implements it.
pub fn plugin(name: &str) -> Option<&'static PluginInfo> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// The conf schema of a plugin.
pub fn plugin_schema(name: &str) -> Option<&'static Value> {
    plugin(name).map(|p| &p.schema)
}

/// The priority of a plugin.
pub fn plugin_priority(name: &str) -> Option<i64> {
    plugin(name).map(|p| p.priority)
}

/// The schema `PUT /plugin_metadata/<name>` checks against: the plugin's metadata schema, or
/// APISIX's injected `{"type":"object"}` for a plugin without one. `None` for an unknown
/// plugin (`invalid plugin name`).
pub fn plugin_metadata_schema(name: &str) -> Option<&'static Value> {
    plugin(name).map(|p| p.metadata_schema.as_ref().unwrap_or(&EMPTY_METADATA))
}

/// The `stream_plugins` part of `GET /v1/schema` for the enabled plugins.
pub fn schema_listing(enabled: &[String]) -> Value {
    let mut out = Map::new();
    for p in PLUGINS
        .iter()
        .filter(|p| enabled.iter().any(|e| e == p.name))
    {
        let mut entry = Map::new();
        entry.insert("schema".to_owned(), p.schema.clone());
        if let Some(meta) = &p.metadata_schema {
            entry.insert("metadata_schema".to_owned(), meta.clone());
        }
        entry.insert("priority".to_owned(), json!(p.priority));
        entry.insert("version".to_owned(), json!(p.version));
        out.insert(p.name.to_owned(), Value::Object(entry));
    }
    Value::Object(out)
}

/// A plugin's own check of its conf (`check_schema`): the schema, then the extra checks of
/// ip-restriction (addresses parsed for real) and traffic-split (`vars` expressions).
/// The error is the plugin's text, without the `failed to check ...` prefix.
pub fn check_plugin_conf(name: &str, conf: &Value) -> Result<(), String> {
    check_plugin_conf_at(name, conf).map_err(|e| e.message)
}

/// [`check_plugin_conf`], keeping the path inside `conf` of a schema failure.
fn check_plugin_conf_at(name: &str, conf: &Value) -> Result<(), SchemaError> {
    let Some(info) = plugin(name) else {
        return Err(format!("unknown plugin [{name}]").into());
    };
    jsonschema::validate_at(&info.schema, conf)?;
    match name {
        "ip-restriction" => {
            for list in ["whitelist", "blacklist"] {
                for entry in conf
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = jsonschema::lua_tostring(entry);
                    if !crate::ip::validate_cidr_or_ip(&text) {
                        return Err(format!("invalid ip address: {text}").into());
                    }
                }
            }
        }
        "traffic-split" => {
            let rules = conf.get("rules").and_then(Value::as_array);
            for rule in rules.into_iter().flatten() {
                let matches = rule.get("match").and_then(Value::as_array);
                for m in matches.into_iter().flatten() {
                    check_expr(m.get("vars")).map_err(|e| {
                        SchemaError::from(format!("failed to validate the 'vars' expression: {e}"))
                    })?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Which message family a plugin failure uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStyle {
    /// Stream routes: `failed to check the configuration of stream plugin [x]: <err>`.
    Stream,
    /// Services (checked by APISIX's HTTP plugin checker):
    /// `failed to check the configuration of plugin x err: <err>`.
    Http,
}

fn is_disabled(conf: &Value) -> bool {
    conf.get("_meta").and_then(|m| m.get("disable")) == Some(&Value::Bool(true))
}

/// A plugin's failure in a `plugins` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The plugin at fault.
    pub plugin: String,
    /// APISIX's text.
    pub message: String,
    /// Where inside the plugin's conf (the root when the conf as a whole is at fault).
    pub path: JsonPath,
}

/// Checks a `plugins` object: each conf must be an object, the plugin enabled (in `enabled`)
/// unless `skip_unknown`, and its conf valid unless `_meta.disable` is true.
pub fn check_plugins(
    plugins: &Value,
    enabled: &[String],
    skip_unknown: bool,
    style: CheckStyle,
) -> Result<(), String> {
    check_plugins_at(plugins, enabled, skip_unknown, style).map_err(|e| e.message)
}

/// [`check_plugins`], naming the plugin at fault and the path inside its conf.
pub fn check_plugins_at(
    plugins: &Value,
    enabled: &[String],
    skip_unknown: bool,
    style: CheckStyle,
) -> Result<(), PluginError> {
    let Value::Object(map) = plugins else {
        return Ok(());
    };
    for (name, conf) in map {
        let fail = |message: String, path: JsonPath| PluginError {
            plugin: name.clone(),
            message,
            path,
        };
        if !matches!(conf, Value::Object(_) | Value::Array(_)) {
            let text = format!(
                "invalid plugin conf {} for plugin [{name}]",
                cjson_encode(conf)
            );
            return Err(fail(text, JsonPath::root()));
        }
        if plugin(name).is_none() || !enabled.iter().any(|e| e == name) {
            if skip_unknown {
                continue;
            }
            return Err(fail(format!("unknown plugin [{name}]"), JsonPath::root()));
        }
        if let Err(err) = check_plugin_conf_at(name, conf) {
            if !is_disabled(conf) {
                let text = match style {
                    CheckStyle::Stream => format!(
                        "failed to check the configuration of stream plugin [{name}]: {}",
                        err.message
                    ),
                    CheckStyle::Http => format!(
                        "failed to check the configuration of plugin {name} err: {}",
                        err.message
                    ),
                };
                return Err(fail(text, err.path));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
