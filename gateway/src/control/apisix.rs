//! APISIX's Control API endpoints that make sense for a stream gateway: schema, health
//! checks, upstreams (with, ours, the live DNS answer of each node name) and plugin metadata,
//! with APISIX's error texts.

use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use model::control::{CheckedNode, Checker, HealthCounter, UpstreamEntry};
use serde_json::{json, Value};

use super::ControlContext;
use crate::balancer::UpstreamRuntime;
use crate::http_reply::{error, json};

type Reply = Response<Full<Bytes>>;

/// `GET /v1/schema`.
pub(super) fn schema(ctx: &ControlContext) -> Reply {
    json(
        StatusCode::OK,
        &json!({
            "main": model::schema::main_schemas(),
            "plugins": {},
            "stream_plugins": model::plugins::schema_listing(&ctx.config.stream.plugins),
        }),
    )
}

/// One checker's report: `{"name","type","nodes":[...]}`. `type` is `checks.active.type`
/// (APISIX's default `http` when unset); each node shows its state and consecutive counters
/// (see [`crate::balancer::health`]); `hostname` is `checks.active.host` or the node host,
/// and `port` the probe port (`checks.active.port` or the node's), as APISIX's targets.
fn checker_report(name: String, runtime: &UpstreamRuntime) -> Checker {
    let checks = runtime.config.checks.as_ref();
    let active = checks.and_then(|c| c.get("active"));
    let ty = active
        .and_then(|a| a.get("type"))
        .or_else(|| checks.and_then(|c| c.pointer("/passive/type")))
        .and_then(Value::as_str)
        .unwrap_or("http");
    let check_host = active.and_then(|a| a.get("host")).and_then(Value::as_str);
    let check_port = active
        .and_then(|a| a.get("port"))
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok());
    let nodes = runtime
        .nodes()
        .into_iter()
        .map(|n| CheckedNode {
            hostname: check_host.unwrap_or(&n.info.host).to_owned(),
            port: check_port.unwrap_or(n.info.port),
            status: n.status.as_str().to_owned(),
            counter: HealthCounter {
                success: n.counter.success,
                http_failure: n.counter.http_failure,
                tcp_failure: n.counter.tcp_failure,
                timeout_failure: n.counter.timeout_failure,
            },
            ip: n.info.host,
        })
        .collect();
    Checker {
        name,
        check_type: ty.to_owned(),
        nodes,
    }
}

/// `GET /v1/healthcheck`: every upstream, service and stream route runtime with `checks`.
pub(super) fn healthcheck_all(ctx: &ControlContext) -> Reply {
    let snapshot = ctx.snapshot.load();
    let prefix = ctx.key_prefix();
    let list: Vec<Checker> = snapshot
        .runtimes
        .iter()
        .filter(|(_, rt)| rt.config.checks.is_some())
        .map(|(key, rt)| checker_report(format!("{prefix}/{key}"), rt))
        .collect();
    json(StatusCode::OK, &list)
}

/// `GET /v1/healthcheck/{stream_routes|upstreams|services}/{id}`.
pub(super) fn healthcheck_one(ctx: &ControlContext, kind: &str, id: &str) -> Reply {
    if id.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("missing src id for src type {kind}"),
        );
    }
    let snapshot = ctx.snapshot.load();
    let runtime = match kind {
        "stream_routes" => match snapshot.route(id) {
            Some(route) => route.upstream.clone(),
            None => return error(StatusCode::NOT_FOUND, format!("{kind}[{id}] not found")),
        },
        "upstreams" => match snapshot.upstream(id) {
            Some(up) => Some(up.clone()),
            None => return error(StatusCode::NOT_FOUND, format!("{kind}[{id}] not found")),
        },
        "services" => {
            if !snapshot.services.contains_key(id) {
                return error(StatusCode::NOT_FOUND, format!("{kind}[{id}] not found"));
            }
            snapshot.runtimes.get(&format!("services/{id}")).cloned()
        }
        other => return error(StatusCode::BAD_REQUEST, format!("invalid src type {other}")),
    };
    match runtime.filter(|rt| rt.config.checks.is_some()) {
        Some(rt) => json(
            StatusCode::OK,
            &checker_report(format!("{}/{}", ctx.key_prefix(), rt.key), &rt),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no checker for {kind}[{id}]"),
        ),
    }
}

/// `has_domain`: whether any node is a host name rather than an IP.
fn has_domain(value: &Value) -> bool {
    let host_is_name = |h: &str| h.trim_matches(['[', ']']).parse::<IpAddr>().is_err();
    match value.get("nodes") {
        Some(Value::Array(nodes)) => nodes
            .iter()
            .filter_map(|n| n.get("host").and_then(Value::as_str))
            .any(host_is_name),
        Some(Value::Object(nodes)) => nodes
            .keys()
            .any(|k| host_is_name(k.rsplit_once(':').map_or(k.as_str(), |(h, _)| h))),
        _ => false,
    }
}

/// The in-memory form APISIX shows (`key`, `value`, `createdIndex`, `modifiedIndex`,
/// `orig_modifiedIndex`, `has_domain`), plus `dns`: the loaded runtime's node names as
/// resolved now (none while the object is not compiled yet).
fn upstream_entry(ctx: &ControlContext, kv: &crate::store::KeyValue) -> UpstreamEntry {
    let id = kv.key.rsplit('/').next().unwrap_or_default();
    UpstreamEntry {
        key: kv.key.clone(),
        value: kv.value.clone(),
        created_index: kv.create_revision,
        modified_index: kv.mod_revision,
        orig_modified_index: kv.mod_revision,
        has_domain: has_domain(&kv.value),
        dns: ctx
            .snapshot
            .load()
            .upstream(id)
            .map(|rt| rt.dns_names())
            .unwrap_or_default(),
    }
}

/// `GET /v1/upstreams`.
pub(super) async fn upstreams(ctx: &ControlContext) -> Reply {
    let Some(store) = &ctx.store else {
        return json(StatusCode::OK, &json!([]));
    };
    match store
        .list(&format!("{}/upstreams/", ctx.key_prefix()))
        .await
    {
        Ok((items, _)) => {
            let list: Vec<UpstreamEntry> = items.iter().map(|kv| upstream_entry(ctx, kv)).collect();
            json(StatusCode::OK, &list)
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `GET /v1/upstream/{id}`.
pub(super) async fn upstream(ctx: &ControlContext, id: &str) -> Reply {
    let not_found = || error(StatusCode::NOT_FOUND, format!("upstream[{id}] not found"));
    let Some(store) = &ctx.store else {
        return not_found();
    };
    match store
        .get(&format!("{}/upstreams/{id}", ctx.key_prefix()))
        .await
    {
        Ok(Some(kv)) => json(StatusCode::OK, &upstream_entry(ctx, &kv)),
        Ok(None) => not_found(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `GET /v1/plugin_metadatas`: the loaded metadata values.
pub(super) fn plugin_metadatas(ctx: &ControlContext) -> Reply {
    let snapshot = ctx.snapshot.load();
    let list: Vec<Value> = snapshot.plugin_metadata.values().cloned().collect();
    json(StatusCode::OK, &Value::Array(list))
}

/// `GET /v1/plugin_metadata/{name}`.
pub(super) fn plugin_metadata(ctx: &ControlContext, name: &str) -> Reply {
    match ctx.snapshot.load().plugin_metadata.get(name) {
        Some(value) => json(StatusCode::OK, value),
        None => error(
            StatusCode::NOT_FOUND,
            format!("plugin metadata[{name}] not found"),
        ),
    }
}
