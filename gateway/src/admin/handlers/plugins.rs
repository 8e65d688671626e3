//! The helper endpoints: `GET /apisix/admin/plugins/list?subsystem=stream`,
//! `GET /apisix/admin/plugins/<name>?subsystem=stream` and
//! `POST /apisix/admin/schema/validate/<resource>`.
//!
//! This gateway has no HTTP plugins: `subsystem=http` (APISIX's default) lists none and finds none.

use hyper::StatusCode;
use model::ResourceKind;
use serde_json::Value;

use crate::admin::request::QueryArgs;
use crate::admin::response::Reply;
use crate::admin::AdminContext;

/// `plugins/list`: the enabled stream plugins, highest priority first.
pub(crate) fn list(ctx: &AdminContext, args: &QueryArgs) -> Reply {
    match args.get("subsystem").unwrap_or("http") {
        "stream" => {
            let mut names: Vec<(i64, &str)> = ctx
                .config
                .stream
                .plugins
                .iter()
                .filter_map(|name| {
                    model::plugins::plugin_priority(name).map(|p| (p, name.as_str()))
                })
                .collect();
            names.sort_by_key(|(priority, _)| std::cmp::Reverse(*priority));
            let names: Vec<&str> = names.into_iter().map(|(_, name)| name).collect();
            Reply::json(StatusCode::OK, &names)
        }
        "http" => Reply::json(StatusCode::OK, &Vec::<String>::new()),
        _ => Reply::plain(StatusCode::BAD_REQUEST, "invalid subsystem passed"),
    }
}

/// `plugins/<name>`: the plugin's schema.
pub(crate) fn schema(ctx: &AdminContext, name: Option<&str>, args: &QueryArgs) -> Reply {
    let subsystem = args.get("subsystem").unwrap_or("http");
    if subsystem != "http" && subsystem != "stream" {
        return Reply::bad_request(format!("unsupported subsystem: {subsystem}"));
    }
    let enabled = subsystem == "stream"
        && name.is_some_and(|name| {
            ctx.config.stream.plugins.iter().any(|p| p == name)
                && model::plugins::plugin_priority(name).is_some()
        });
    let Some(name) = name.filter(|_| enabled) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            format!("plugin not found in subsystem {subsystem}"),
        );
    };
    match model::plugins::plugin_schema(name) {
        Some(schema) => Reply::json(StatusCode::OK, &schema),
        None => Reply::bad_request("not found schema"),
    }
}

/// `schema/validate/<resource>`: 200 empty when `body` passes the JSON schema, else 400 with
/// the validator's message.
pub(crate) fn validate_schema(kind: ResourceKind, body: Option<&Value>) -> Reply {
    let Some(body) = body else {
        return Reply::bad_request("wrong type: expected object, got nil");
    };
    match model::validate::check_schema_only(kind, body) {
        Ok(()) => Reply::empty(StatusCode::OK),
        Err(err) => Reply::bad_request(err.message),
    }
}
