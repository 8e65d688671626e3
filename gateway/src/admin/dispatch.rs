//! One request through the Admin API, in APISIX's order (REFERENCE.md §2.1; the first failure
//! wins): `allow_admin` → route match → key → stream-mode gate → resource lookup → body size →
//! body JSON → `ttl` → the method handler (or, for APISIX's HTTP-only resources, the empty
//! read-only answer of [`handlers::http_only`]).

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use model::ResourceKind;

use super::config_validate::{self, checks::HttpOnlyItems};
use super::handlers::{self, Call};
use super::request::{self, QueryArgs};
use super::response::Reply;
use super::{auth, AdminContext};

/// Which endpoint a path and method select (before the key check).
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `GET /apisix/admin/plugins/list`.
    PluginList,
    /// `PUT /apisix/admin/plugins/reload`.
    PluginReload,
    /// Any other method on `/apisix/admin/plugins/reload`.
    PluginReloadWrongMethod,
    /// `POST /apisix/admin/schema/validate/<resource>`.
    SchemaValidate(String),
    /// `POST /apisix/admin/configs/validate`.
    ConfigsValidate,
    /// `/apisix/admin/<resource>[/<id>[/<sub_path>]]`.
    Resource {
        name: String,
        id: Option<String>,
        sub_path: String,
    },
}

impl Route {
    /// `None` when nothing matches (nginx's 404 page, before any key check).
    fn resolve(method: &Method, segments: &[String]) -> Option<Route> {
        let known = [
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
        ];
        if segments.is_empty() || !known.contains(method) {
            return None;
        }
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match parts.as_slice() {
            ["plugins", "list"] if method == Method::GET => Route::PluginList,
            ["plugins", "reload"] if method == Method::PUT => Route::PluginReload,
            ["plugins", "reload"] => Route::PluginReloadWrongMethod,
            ["configs", "validate"] if method == Method::POST => Route::ConfigsValidate,
            ["schema", "validate", resource, ..] if method == Method::POST => {
                Route::SchemaValidate((*resource).to_owned())
            }
            [name, rest @ ..] => Route::Resource {
                name: (*name).to_owned(),
                id: rest.first().map(|id| (*id).to_owned()),
                sub_path: rest.get(1..).map(|tail| tail.join("/")).unwrap_or_default(),
            },
            [] => return None,
        };
        Some(route)
    }
}

/// Answers one request from `peer`.
pub(crate) async fn handle(ctx: &AdminContext, peer: IpAddr, req: Request<Incoming>) -> Reply {
    if !auth::peer_allowed(&ctx.config.admin, peer) {
        return Reply::nginx_page(StatusCode::FORBIDDEN);
    }
    let (parts, body) = req.into_parts();
    let Some(segments) = request::admin_segments(parts.uri.path()) else {
        return Reply::nginx_page(StatusCode::NOT_FOUND);
    };
    if ctx.cors && parts.method == Method::OPTIONS {
        return Reply::cors_preflight();
    }
    if parts.method == Method::HEAD && segments.is_empty() {
        return Reply::empty(StatusCode::OK);
    }
    if ctx.standalone.is_some() {
        return super::standalone::handle(ctx, peer, parts, body, &segments).await;
    }
    let Some(route) = Route::resolve(&parts.method, &segments) else {
        return Reply::nginx_page(StatusCode::NOT_FOUND);
    };
    let args = QueryArgs::parse(parts.uri.query());
    if let Err(refusal) = auth::check_key(&ctx.config.admin, &parts.method, &parts.headers, &args) {
        tracing::warn!(%peer, reason = refusal.description(), "admin: failed to check token");
        return Reply::unauthorized(refusal.description());
    }

    match route {
        Route::PluginList => handlers::plugins::list(ctx, &args),
        Route::PluginReload => Reply::plain(StatusCode::OK, "done"),
        Route::PluginReloadWrongMethod => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "please use PUT method to reload the plugins, {} method is not allowed.",
                parts.method
            ),
        ),
        Route::SchemaValidate(resource) => {
            let Some(kind) = ResourceKind::from_dir(&resource) else {
                return unsupported_resource(&resource);
            };
            match read_json_body(body).await {
                Ok(value) => handlers::plugins::validate_schema(kind, value.as_ref()),
                Err(reply) => reply,
            }
        }
        Route::ConfigsValidate => {
            config_validate::answer(ctx, &parts.headers, body, HttpOnlyItems::Refuse).await
        }
        Route::Resource { name, id, sub_path } => {
            let target = Target { name, id, sub_path };
            run(ctx, parts.method, target, args, body).await
        }
    }
}

/// The resource part of the path.
struct Target {
    name: String,
    id: Option<String>,
    sub_path: String,
}

/// What `/apisix/admin/<resource>` names.
enum Resource {
    /// `plugins/<name>`: a plugin's schema.
    Plugins,
    /// A kind this gateway stores.
    Stored(ResourceKind),
    /// One of APISIX's HTTP-only resources: an empty, read-only store.
    HttpOnly,
}

/// `/apisix/admin/<resource>...` after the key check.
async fn run(
    ctx: &AdminContext,
    method: Method,
    target: Target,
    args: QueryArgs,
    body: Incoming,
) -> Reply {
    if target.name == ResourceKind::StreamRoutes.dir()
        && !ctx.config.proxy_mode.stream_enabled()
        && method != Method::GET
    {
        tracing::warn!("admin: stream mode is disabled, can not add any stream routes");
        return Reply::bad_request("stream mode is disabled, can not add stream routes");
    }

    let resource = if target.name == "plugins" {
        if method != Method::GET {
            return Reply::error(StatusCode::NOT_FOUND, "not found");
        }
        Resource::Plugins
    } else if let Some(kind) = ResourceKind::from_dir(&target.name) {
        Resource::Stored(kind)
    } else if model::resource::is_http_only(&target.name) {
        Resource::HttpOnly
    } else {
        return unsupported_resource(&target.name);
    };

    let body = match read_json_body(body).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let ttl = match request::parse_ttl(&args) {
        Ok(ttl) => ttl,
        Err(reply) => return reply,
    };

    let kind = match resource {
        Resource::Stored(kind) => kind,
        Resource::Plugins => {
            return handlers::plugins::schema(ctx, target.id.as_deref(), &args).versioned();
        }
        Resource::HttpOnly => {
            return handlers::http_only::answer(&method, &target.name, target.id.as_deref(), &args)
                .versioned();
        }
    };
    let call = Call {
        ctx,
        kind,
        id: target.id,
        sub_path: target.sub_path,
        body,
        args,
        ttl,
    };
    let result = match method {
        Method::GET => handlers::get::get(&call).await,
        Method::PUT => handlers::write::put(&call).await,
        Method::POST => handlers::write::post(&call).await,
        Method::DELETE => handlers::delete::delete(&call).await,
        Method::PATCH => handlers::patch::patch(&call).await,
        _ => Err(Reply::error(StatusCode::NOT_FOUND, "not found")),
    };
    result.unwrap_or_else(|reply| reply).versioned()
}

/// 404 `{"error_msg":"Unsupported resource type: <name>"}`.
fn unsupported_resource(name: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        format!("Unsupported resource type: {name}"),
    )
}

/// Body size check, then JSON parse.
async fn read_json_body(body: Incoming) -> Result<Option<serde_json::Value>, Reply> {
    let raw = request::read_body(body).await?;
    request::parse_body(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        request::admin_segments(path).expect("admin path")
    }

    #[test]
    fn plugin_list_and_reload_are_their_own_routes() {
        let list = Route::resolve(&Method::GET, &segs("/apisix/admin/plugins/list"));
        assert_eq!(list, Some(Route::PluginList));
        let reload = Route::resolve(&Method::GET, &segs("/apisix/admin/plugins/reload"));
        assert_eq!(reload, Some(Route::PluginReloadWrongMethod));
    }

    #[test]
    fn configs_validate_is_its_own_route_for_post_only() {
        let post = Route::resolve(&Method::POST, &segs("/apisix/admin/configs/validate"));
        assert_eq!(post, Some(Route::ConfigsValidate));
        let get = Route::resolve(&Method::GET, &segs("/apisix/admin/configs/validate"));
        assert!(matches!(get, Some(Route::Resource { name, .. }) if name == "configs"));
    }

    #[test]
    fn resource_path_keeps_the_sub_path() {
        let route = Route::resolve(&Method::PATCH, &segs("/apisix/admin/upstreams/1/nodes/x"));
        assert_eq!(
            route,
            Some(Route::Resource {
                name: "upstreams".into(),
                id: Some("1".into()),
                sub_path: "nodes/x".into(),
            })
        );
    }

    #[test]
    fn unknown_methods_and_the_bare_prefix_match_nothing() {
        assert_eq!(
            Route::resolve(&Method::HEAD, &segs("/apisix/admin/upstreams")),
            None
        );
        assert_eq!(Route::resolve(&Method::GET, &segs("/apisix/admin")), None);
    }
}
