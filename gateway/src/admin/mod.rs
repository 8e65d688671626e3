//! The Admin API (APISIX v3, REFERENCE.md §2, DESIGN.md §4 "Admin API") on hyper 1 (http1).
//!
//! Endpoints:
//! - `HEAD /apisix/admin`: 200, empty, no key needed.
//! - `GET|PUT|POST|DELETE|PATCH /apisix/admin/<resource>[/<id>[/<sub_path>]]` for
//!   `stream_routes`, `upstreams`, `services`, `ssls`, `plugin_metadata`.
//! - `GET /apisix/admin/plugins/list?subsystem=stream`, `GET /apisix/admin/plugins/<name>?subsystem=stream`,
//!   `PUT /apisix/admin/plugins/reload`.
//! - `POST /apisix/admin/schema/validate/<resource>`.
//! - `POST /apisix/admin/configs/validate` ([`config_validate`]).
//! - APISIX's HTTP-only resources (`routes`, `consumers`, ...) as an empty, read-only store
//!   ([`handlers::http_only`]); any other resource name → 404 `Unsupported resource type`.
//!
//! Flow of one request (the first failure wins, as in APISIX):
//! [`server`] accepts → [`dispatch`]: `allow_admin` (403 page) → route match → [`auth`] key (401)
//! → stream-mode gate → resource lookup (404) → [`request`] body size (413) and JSON (400) →
//! `ttl` (400) → a handler in [`handlers`] (validation by `model::validate`, then the [`Store`]).
//! Every reply is built by [`response`]. [`keyfile`] generates the admin key at first start.
//! [`tls`] provides the certificates of HTTPS (and of the Control API's TLS); [`audit`] appends
//! one line per write to the audit trail once the reply is known.
//!
//! API-driven standalone (`role: traditional` + `config_provider: yaml`): only
//! `GET|PUT|HEAD /apisix/admin/configs` and `POST /apisix/admin/configs/validate`, in
//! [`standalone`] (the validate endpoint is [`config_validate`] in both modes).

pub mod audit;
pub(crate) mod auth;
mod config_validate;
mod dispatch;
mod handlers;
mod keyfile;
mod listing;
mod private_keys;
pub mod remote;
pub(crate) mod request;
mod response;
mod server;
mod standalone;
pub mod tls;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

pub use keyfile::{ensure_admin_key, AdminKeyError, ADMIN_KEY_FILE};
pub use remote::RemoteAccess;
pub use server::{serve, serve_remote};

/// The largest request body accepted (APISIX: 1.5 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024 * 3 / 2;

/// Everything a request handler needs: the configuration and the store.
pub struct AdminContext {
    /// The validated configuration (keys, `allow_admin`, proxy mode, stream plugins, ...).
    pub config: Arc<Config>,
    /// The configuration store the Admin API reads and writes.
    pub store: Arc<dyn Store>,
    /// The store key prefix (`deployment.etcd.prefix`, normalised: leading `/`, no trailing `/`).
    pub key_prefix: String,
    /// Add `Access-Control-Allow-Origin: *` and answer `OPTIONS` preflights
    /// (`deployment.admin.enable_admin_cors`, default true).
    pub cors: bool,
    /// API-driven standalone mode's state (`None` in the normal mode).
    pub(crate) standalone: Option<standalone::Standalone>,
    /// The audit trail of writes (`deployment.admin.audit_log`), when on.
    pub audit: Option<audit::AuditLog>,
}

impl AdminContext {
    /// A context over `config` and `store`, with CORS on (APISIX's default).
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>) -> Self {
        let key_prefix = normalise_prefix(&config.etcd.prefix);
        let standalone = standalone::enabled(&config).then(standalone::Standalone::default);
        AdminContext {
            config,
            store,
            key_prefix,
            cors: true,
            standalone,
            audit: None,
        }
    }

    /// The same context, recording writes in `audit`.
    pub fn with_audit(mut self, audit: Option<audit::AuditLog>) -> Self {
        self.audit = audit;
        self
    }

    /// The store key of one object: `<prefix>/<dir>/<id>`.
    pub(crate) fn object_key(&self, kind: model::ResourceKind, id: &str) -> String {
        format!("{}/{}/{}", self.key_prefix, kind.dir(), id)
    }

    /// The store prefix of a collection: `<prefix>/<dir>/`.
    pub(crate) fn dir_prefix(&self, kind: model::ResourceKind) -> String {
        format!("{}/{}/", self.key_prefix, kind.dir())
    }
}

/// `/apisix/` → `/apisix`, `apisix` → `/apisix`, `` → ``.
fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_prefix;

    #[test]
    fn prefix_gets_one_leading_slash_and_no_trailing_slash() {
        assert_eq!(normalise_prefix("/apisix"), "/apisix");
        assert_eq!(normalise_prefix("apisix/"), "/apisix");
        assert_eq!(normalise_prefix("/"), "");
    }
}
