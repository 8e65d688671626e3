//! The write check of the Admin API, in APISIX's order (REFERENCE.md §2.5–§2.7), with its
//! exact texts. Used by the Admin API, the store watcher (bad stored objects are skipped), the
//! standalone YAML loader and `apisixctl validate`.
//!
//! Flow: the caller first asks [`references_of`] which other objects the body refers to,
//! fetches them from its store, and passes them in [`CheckContext::refs`]; [`check_write`]
//! then runs: body present → id rules → forbidden properties → JSON schema → resource checks.

use std::collections::HashMap;

use serde_json::Value;

use crate::ResourceKind;

/// A rejected write: `message` is the exact `error_msg` APISIX returns (status 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub message: String,
}

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        ValidationError {
            message: message.into(),
        }
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

/// The objects `body` refers to (`upstream_id`, `service_id`, `protocol.superior_id`,
/// `tls.client_cert_id`, traffic-split `upstream_id`s), so the caller can fetch them.
pub fn references_of(kind: ResourceKind, body: &Value) -> Vec<(ResourceKind, String)> {
    let _ = (kind, body);
    Vec::new()
}

/// Checks a PUT/POST body (the full object) for `kind`.
///
/// `path_id` is the id in the URL, if any. On success returns the id the object will be
/// stored under (`None` for POST, where the server generates it).
pub fn check_write(
    kind: ResourceKind,
    method: WriteMethod,
    path_id: Option<&str>,
    body: Option<&Value>,
    ctx: &CheckContext,
) -> Result<Option<String>, ValidationError> {
    let _ = (kind, method, ctx);
    let Some(_body) = body else {
        return Err(ValidationError::new("missing configurations"));
    };
    Ok(path_id.map(str::to_owned))
}

/// Checks an object as stored (for the watcher and the YAML loader): schema and resource
/// checks, without the id/forbidden-property rules of a write.
pub fn check_stored(
    kind: ResourceKind,
    id: &str,
    value: &Value,
    ctx: &CheckContext,
) -> Result<(), ValidationError> {
    let _ = (kind, id, value, ctx);
    Ok(())
}
