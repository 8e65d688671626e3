//! API-driven standalone mode (`role: traditional` + `role_traditional.config_provider:
//! yaml`; REFERENCE.md §2.8, APISIX `admin/standalone.lua`): the Admin API serves only
//!
//! - `GET /apisix/admin/configs`: the whole configuration (JSON, or YAML with
//!   `Accept: application/yaml`), with `X-Digest` / `X-Last-Modified` headers; before any
//!   PUT, every `<type>_conf_version` is 0.
//! - `HEAD /apisix/admin/configs`: the same headers, no body.
//! - `PUT /apisix/admin/configs`: replaces the configuration (JSON, or YAML with
//!   `Content-Type: application/yaml`). `X-Digest` is required (400 `missing digest header`);
//!   the same digest as the current one → 204, nothing changes. Every item is validated
//!   ([`checks`]); the first problem → 400 with its text and nothing changes. Per type, a
//!   higher `<type>_conf_version` (or none: current + 1) replaces that type, an equal one keeps
//!   it, a lower one → 400 `<type>_conf_version must be greater than or equal to (<n>)`.
//!   Success → 202 with the new `X-Digest` / `X-Last-Modified`; the data plane applies it.
//! - `POST /apisix/admin/configs/validate`: [`super::config_validate`], the same endpoint as in
//!   the normal mode, except that items of HTTP-only types are accepted.
//!
//! Every other path or method gets nginx's 404 page (APISIX's router has no route for it),
//! before the key check. The configuration lives in memory only, as in APISIX: a restart
//! starts empty.

use std::net::IpAddr;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::config_validate::checks::{
    conf_version_key, resource_keys, validate_configuration, HttpOnlyItems, Problems, Purpose,
};
use super::config_validate::{self, read_document, YAML};
use super::handlers::unix_now;
use super::request::QueryArgs;
use super::response::Reply;
use super::{auth, AdminContext};
use crate::config::{Config, ConfigProvider, Role};

const LAST_MODIFIED: &str = "X-Last-Modified";
const DIGEST: &str = "X-Digest";

/// Whether `config` puts the Admin API in standalone mode.
pub(crate) fn enabled(config: &Config) -> bool {
    config.deployment.role == Role::Traditional
        && config.deployment.config_provider == ConfigProvider::Yaml
}

/// The configuration document in force (`None` before the first PUT). The lock also
/// serialises PUTs.
#[derive(Debug, Default)]
pub(crate) struct Standalone {
    document: Mutex<Option<Map<String, Value>>>,
}

/// The endpoints of this mode.
enum Endpoint {
    Get,
    Head,
    Put,
    Validate,
}

/// Answers one request in standalone mode (after `allow_admin`).
pub(crate) async fn handle(
    ctx: &AdminContext,
    peer: IpAddr,
    parts: Parts,
    body: Incoming,
    segments: &[String],
) -> Reply {
    let Some(state) = ctx.standalone.as_ref() else {
        return Reply::nginx_page(StatusCode::NOT_FOUND);
    };
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let endpoint = match (path.as_slice(), &parts.method) {
        (["configs"], &Method::GET) => Endpoint::Get,
        (["configs"], &Method::HEAD) => Endpoint::Head,
        (["configs"], &Method::PUT) => Endpoint::Put,
        (["configs", "validate"], &Method::POST) => Endpoint::Validate,
        _ => return Reply::nginx_page(StatusCode::NOT_FOUND),
    };
    let args = QueryArgs::parse(parts.uri.query());
    if let Err(refusal) = auth::check_key(&ctx.config.admin, &parts.method, &parts.headers, &args) {
        tracing::warn!(%peer, reason = refusal.description(), "admin: failed to check token");
        return Reply::unauthorized(refusal.description());
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match endpoint {
        Endpoint::Get => {
            let accept = header("accept").unwrap_or_default();
            get(state, accept.starts_with(YAML)).await
        }
        Endpoint::Head => with_metadata(
            Reply::empty(StatusCode::OK),
            state.document.lock().await.as_ref(),
        ),
        Endpoint::Put => {
            let Some(digest) = header(DIGEST) else {
                return Reply::bad_request("missing digest header");
            };
            let content_type = config_validate::content_type(&parts.headers);
            let doc = match read_document(body, content_type).await {
                Ok(doc) => doc,
                Err(reply) => return reply,
            };
            put(ctx, state, doc, digest).await
        }
        Endpoint::Validate => {
            config_validate::answer(ctx, &parts.headers, body, HttpOnlyItems::Accept).await
        }
    }
}

/// Adds `X-Last-Modified` / `X-Digest` from `doc` when it has them.
fn with_metadata(mut reply: Reply, doc: Option<&Map<String, Value>>) -> Reply {
    for name in [LAST_MODIFIED, DIGEST] {
        match doc.and_then(|d| d.get(name)) {
            Some(Value::String(text)) => reply = reply.header(name, text),
            Some(Value::Number(n)) => reply = reply.header(name, &n.to_string()),
            _ => {}
        }
    }
    reply
}

async fn get(state: &Standalone, want_yaml: bool) -> Reply {
    let guard = state.document.lock().await;
    let doc = guard.clone().unwrap_or_else(|| {
        resource_keys()
            .iter()
            .map(|key| (conf_version_key(key), json!(0)))
            .collect()
    });
    let reply = if want_yaml {
        match serde_norway::to_string(&doc) {
            Ok(text) => Reply::with_body(StatusCode::OK, Bytes::from(text), YAML),
            Err(err) => Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to encode yaml: {err}"),
            ),
        }
    } else {
        Reply::json(StatusCode::OK, &doc)
    };
    with_metadata(reply, guard.as_ref())
}

/// The conf version of `key` in `doc` (0 when absent).
fn version_of(doc: Option<&Map<String, Value>>, key: &str) -> Option<f64> {
    doc.and_then(|d| d.get(key)).and_then(Value::as_f64)
}

async fn put(
    ctx: &AdminContext,
    state: &Standalone,
    doc: Map<String, Value>,
    digest: String,
) -> Reply {
    let Some(store) = ctx.store.as_api_driven() else {
        return Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "standalone mode without an api-driven store",
        );
    };
    let mut guard = state.document.lock().await;
    let current = guard.as_ref();
    if current.and_then(|c| c.get(DIGEST)).and_then(Value::as_str) == Some(digest.as_str()) {
        tracing::info!("standalone config not changed: same digest");
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    let check = ctx.config.check_context();
    if let Err(problems) =
        validate_configuration(&doc, &check, HttpOnlyItems::Accept, Purpose::Replace)
    {
        let message = match problems {
            Problems::First(message) => message,
            Problems::All(all) => all
                .first()
                .and_then(|p| p["error"].as_str())
                .unwrap_or("invalid configuration")
                .to_owned(),
        };
        return Reply::bad_request(message);
    }

    let mut next = Map::new();
    for &key in resource_keys() {
        let cv_key = conf_version_key(key);
        let old = version_of(current, &cv_key).unwrap_or(0.0);
        let new = match doc.get(&cv_key) {
            Some(requested) => {
                let n = requested.as_f64().unwrap_or(0.0);
                if n < old {
                    let shown = current
                        .and_then(|c| c.get(&cv_key))
                        .map_or_else(|| "0".to_owned(), Value::to_string);
                    return Reply::bad_request(format!(
                        "{cv_key} must be greater than or equal to ({shown})"
                    ));
                }
                requested.clone()
            }
            None => match current.and_then(|c| c.get(&cv_key)) {
                Some(v) if v.is_i64() => json!(v.as_i64().unwrap_or(0) + 1),
                Some(_) => json!(old + 1.0),
                None => json!(1),
            },
        };
        // Equal: that type is kept as it was (nothing before the first PUT).
        let unchanged = new.as_f64() == Some(old);
        next.insert(cv_key, new);
        if unchanged {
            if let Some(items) = current.and_then(|c| c.get(key)) {
                next.insert(key.to_owned(), items.clone());
            }
        } else if let Some(items) = doc
            .get(key)
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            next.insert(key.to_owned(), items.clone());
        }
    }
    next.insert(LAST_MODIFIED.to_owned(), json!(unix_now()));
    next.insert(DIGEST.to_owned(), Value::String(digest));

    let revision = store.replace(next.clone());
    tracing::info!(
        ?revision,
        "standalone configuration updated through the admin api"
    );
    let reply = with_metadata(Reply::empty(StatusCode::ACCEPTED), Some(&next));
    *guard = Some(next);
    reply
}
