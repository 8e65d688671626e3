//! Typed reads from the parsed YAML tree, by dotted key path, collecting problems.
//!
//! Every read marks its path (and the path's ancestors) as known; after loading,
//! [`Reader::unknown_keys`] walks the tree and reports every key that was neither read nor
//! listed in [`IGNORED`] (APISIX keys that mean nothing to an L4 gateway). Type problems are
//! recorded as one message per key, naming the path, and the default is used so that loading
//! can go on and report everything at once.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

/// APISIX keys accepted without effect. `a.b.*` covers everything below `a.b`.
const IGNORED: &[&str] = &[
    "apisix.node_listen",
    "apisix.enable_ipv6",
    "apisix.enable_reuseport",
    "apisix.enable_http2",
    "apisix.enable_dev_mode",
    "apisix.enable_server_tokens",
    "apisix.enable_resolv_search_opt",
    "apisix.id",
    "apisix.extra_lua_path",
    "apisix.extra_lua_cpath",
    "apisix.lua_module_hook",
    "apisix.proxy_cache",
    "apisix.proxy_cache.*",
    "apisix.delete_uri_tail_slash",
    "apisix.normalize_uri_like_servlet",
    "apisix.show_upstream_status_in_response_header",
    "apisix.router",
    "apisix.router.*",
    "apisix.resolver_timeout",
    "apisix.disable_upstream_healthcheck",
    "apisix.data_encryption",
    "apisix.data_encryption.*",
    "apisix.events",
    "apisix.events.*",
    "apisix.status",
    "apisix.status.*",
    "apisix.tracing",
    "apisix.control.router",
    "apisix.proxy_protocol.listen_http_port",
    "apisix.proxy_protocol.listen_https_port",
    "apisix.ssl.*",
    "nginx_config",
    "nginx_config.*",
    "plugins",
    "plugins.*",
    "plugin_attr",
    "plugin_attr.*",
    "discovery",
    "discovery.*",
    "graphql",
    "graphql.*",
    "wasm",
    "wasm.*",
    "ext-plugin",
    "ext-plugin.*",
    "deployment.admin.enable_admin_cors",
    "deployment.admin.enable_admin_ui",
    "deployment.admin.admin_api_version",
    "deployment.certs",
    "deployment.certs.*",
    "deployment.config_provider",
];

fn ignored(path: &str) -> bool {
    IGNORED
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *pattern,
        })
}

/// A short description of a value for error messages: strings quoted, containers named.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Reads the config tree; collects errors and remembers which keys were read.
pub struct Reader<'a> {
    root: &'a Value,
    known: HashSet<String>,
    /// One message per problem, each naming its key path.
    pub errors: Vec<String>,
    /// Non-fatal notes (ignored settings and the like).
    pub warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    /// Reads from `root` (a mapping; anything else reads as empty).
    pub fn new(root: &'a Value) -> Self {
        Reader {
            root,
            known: HashSet::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error.
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Records a warning.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Marks `path` and its ancestors as known.
    pub fn mark(&mut self, path: &str) {
        let mut end = path.len();
        loop {
            self.known.insert(path[..end].to_string());
            match path[..end].rfind(['.', '[']) {
                Some(i) => end = i,
                None => break,
            }
        }
    }

    /// The raw value at a dotted path (`a.b.c`), `None` when absent. Null is returned as is.
    pub fn raw(&mut self, path: &str) -> Option<&'a Value> {
        self.mark(path);
        let mut node = self.root;
        for part in path.split('.') {
            node = node.as_object()?.get(part)?;
        }
        Some(node)
    }

    /// The value at `path`, treating null as absent.
    pub fn value(&mut self, path: &str) -> Option<&'a Value> {
        self.raw(path).filter(|v| !v.is_null())
    }

    /// Whether `path` is set to something other than null.
    pub fn is_set(&mut self, path: &str) -> bool {
        self.value(path).is_some()
    }

    /// A boolean, or `default` when absent (or wrong, with an error).
    pub fn bool(&mut self, path: &str, default: bool) -> bool {
        match self.value(path) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.error(format!(
                    "{path}: expected a boolean, got {}",
                    describe(other)
                ));
                default
            }
        }
    }

    /// A string, `None` when absent (or wrong, with an error).
    pub fn string(&mut self, path: &str) -> Option<String> {
        match self.value(path)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(format!(
                    "{path}: expected a string, got {}",
                    describe(other)
                ));
                None
            }
        }
    }

    /// A string that must start with `/` (a key prefix, a URI path), or `default`.
    pub fn absolute_path(&mut self, path: &str, default: &str) -> String {
        let value = self.string(path).unwrap_or_else(|| default.to_owned());
        if !value.starts_with('/') {
            self.error(format!("{path}: {value:?} must start with /"));
        }
        value
    }

    /// A string that must be one of `allowed`.
    pub fn one_of(&mut self, path: &str, allowed: &[&str], default: &str) -> String {
        let Some(value) = self.string(path) else {
            return default.to_string();
        };
        if allowed.contains(&value.as_str()) {
            value
        } else {
            self.error(format!(
                "{path}: invalid value {value:?}, expected one of: {}",
                allowed.join(", ")
            ));
            default.to_string()
        }
    }

    /// A whole number at least `min`, `None` when absent (or wrong, with an error).
    pub fn integer(&mut self, path: &str, min: i64) -> Option<i64> {
        let value = self.value(path)?;
        match value.as_i64() {
            Some(n) if n >= min => Some(n),
            _ => {
                self.error(format!(
                    "{path}: expected an integer >= {min}, got {}",
                    describe(value)
                ));
                None
            }
        }
    }

    /// A whole number of seconds at least `min`, or `default` seconds when absent (or wrong,
    /// with an error).
    pub fn whole_seconds(&mut self, path: &str, min: i64, default: u64) -> Duration {
        Duration::from_secs(self.integer(path, min).map_or(default, i64::unsigned_abs))
    }

    /// A TCP/UDP port (1-65535), or `default`.
    pub fn port(&mut self, path: &str, default: u16) -> u16 {
        let Some(value) = self.value(path) else {
            return default;
        };
        // APISIX reads ports with `tonumber`, so "9090" is accepted too.
        let number = match value {
            Value::String(s) => s.trim().parse::<u64>().ok(),
            other => other.as_u64(),
        };
        match number
            .and_then(|n| u16::try_from(n).ok())
            .filter(|p| *p != 0)
        {
            Some(port) => port,
            None => {
                self.error(format!(
                    "{path}: expected a port (1-65535), got {}",
                    describe(value)
                ));
                default
            }
        }
    }

    /// An IP address, or `default`.
    pub fn ip(&mut self, path: &str, default: IpAddr) -> IpAddr {
        let Some(text) = self.string(path) else {
            return default;
        };
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        match bare.parse() {
            Ok(ip) => ip,
            Err(_) => {
                self.error(format!("{path}: invalid IP address {text:?}"));
                default
            }
        }
    }

    /// The items of the list at `path`, each with its own path (`path[i]`); none when absent
    /// (or not a list, with an error).
    pub fn list_items(&mut self, path: &str) -> Vec<(String, &'a Value)> {
        let items = self.list(path).map(Vec::as_slice).unwrap_or_default();
        items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .collect()
    }

    /// A list, `None` when absent (or not a list, with an error).
    pub fn list(&mut self, path: &str) -> Option<&'a Vec<Value>> {
        match self.value(path)? {
            Value::Array(items) => Some(items),
            other => {
                self.error(format!("{path}: expected a list, got {}", describe(other)));
                None
            }
        }
    }

    /// A list of strings, `None` when absent; wrong items are reported and skipped.
    pub fn strings(&mut self, path: &str) -> Option<Vec<String>> {
        let items = self.list(path)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => self.error(format!(
                    "{path}[{i}]: expected a string, got {}",
                    describe(other)
                )),
            }
        }
        Some(out)
    }

    /// Every key in the tree that was not read and is not an ignored APISIX key.
    pub fn unknown_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(self.root, "", &mut out);
        out
    }

    fn walk(&self, node: &Value, path: &str, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if self.known.contains(&child_path) {
                        self.walk(child, &child_path, out);
                    } else if !ignored(&child_path) {
                        out.push(child_path);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let child_path = format!("{path}[{i}]");
                    if self.known.contains(&child_path) {
                        self.walk(child, &child_path, out);
                    }
                }
            }
            _ => {}
        }
    }
}
