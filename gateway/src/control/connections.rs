//! `/v1/connections`: the live connections and UDP sessions from the registry, filtered by
//! route, upstream or client, and `DELETE /v1/connections/{id}` to close one (admin key
//! required when `admin_key_required`, checked by the Admin API's key check).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use model::control::{Connection, ControlList, Killed};
use serde_json::json;

use super::{Call, ControlContext};
use crate::admin::audit::{AuditEntry, Caller};
use crate::admin::auth::check_key;
use crate::admin::request::QueryArgs;
use crate::conn::Transport;
use crate::http_reply::{error, json};
use crate::proxy::registry::ConnectionHandle;

type Reply = Response<Full<Bytes>>;

/// The public id of connection `id`: `c-` and 16 hex digits.
pub fn connection_id(id: u64) -> String {
    format!("c-{id:016x}")
}

/// Parses `c-<hex>` (or a plain decimal id).
fn parse_id(text: &str) -> Option<u64> {
    match text.strip_prefix("c-") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn view(h: &ConnectionHandle) -> Connection {
    let started_at = h
        .started_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Connection {
        id: connection_id(h.id),
        route_id: h.routed.route_id.clone(),
        listener: h.routed.local.to_string(),
        server: h.routed.server.to_string(),
        client: h.routed.client.to_string(),
        upstream: h.node().map(|n| n.to_string()),
        upstream_key: h.routed.upstream.clone(),
        protocol: protocol(h).to_owned(),
        sni: h.front().and_then(|f| f.sni.clone()),
        started_at,
        age_secs: h.age().as_secs_f64(),
        bytes_in: h.bytes_up(),
        bytes_out: h.bytes_down(),
        last_activity_secs_ago: h.idle().as_secs_f64(),
    }
}

/// `udp`, `tls` (terminated by the gateway) or `tcp` (plain, or TLS passed through).
fn protocol(h: &ConnectionHandle) -> &'static str {
    match (h.routed.transport, h.front().is_some_and(|f| f.tls)) {
        (Transport::Udp, _) => "udp",
        (Transport::Tcp, true) => "tls",
        (Transport::Tcp, false) => "tcp",
    }
}

/// Whether `h` passes the `route_id`, `upstream` (node address or upstream key) and `client`
/// (IP or IP:port) filters.
fn wanted(h: &ConnectionHandle, args: &QueryArgs) -> bool {
    if let Some(route) = args.get("route_id") {
        if h.routed.route_id != route {
            return false;
        }
    }
    if let Some(upstream) = args.get("upstream") {
        let node = h.node().map(|n| n.to_string());
        if h.routed.upstream != upstream && node.as_deref() != Some(upstream) {
            return false;
        }
    }
    if let Some(client) = args.get("client") {
        if h.routed.client.to_string() != client && h.routed.client.ip().to_string() != client {
            return false;
        }
    }
    true
}

/// `GET /v1/connections[?route_id=&upstream=&client=]`.
pub(super) fn list(ctx: &ControlContext, args: &QueryArgs) -> Reply {
    let list = ctx
        .proxy
        .registry
        .list()
        .iter()
        .map(Arc::as_ref)
        .filter(|h| wanted(h, args))
        .map(view)
        .collect();
    json(StatusCode::OK, &ControlList::new(list))
}

/// `DELETE /v1/connections/{id}`, recorded in the audit trail.
pub(super) fn kill(ctx: &ControlContext, call: &Call, id: &str) -> Reply {
    let (status, error_msg, reply) = kill_reply(ctx, call, id);
    if let Some(log) = &ctx.audit {
        let caller = Caller::identify(&ctx.config.admin, &call.headers, &call.args);
        let path = format!("/v1/connections/{id}");
        let mut entry = AuditEntry::new(
            "control",
            caller,
            call.peer,
            &call.method,
            &path,
            status,
            b"",
        );
        entry.error_msg = error_msg;
        log.record(&entry);
    }
    reply
}

/// The answer to a kill: status, the refusal's message, the reply.
fn kill_reply(ctx: &ControlContext, call: &Call, id: &str) -> (u16, Option<String>, Reply) {
    if let Err(refusal) = check_key(&ctx.config.admin, &call.method, &call.headers, &call.args) {
        let reply = json(
            StatusCode::UNAUTHORIZED,
            &json!({"error_msg": "failed to check token", "description": refusal.description()}),
        );
        let msg = format!("failed to check token: {}", refusal.description());
        return (401, Some(msg), reply);
    }
    let not_found = || {
        let msg = format!("connection[{id}] not found");
        (404, Some(msg.clone()), error(StatusCode::NOT_FOUND, msg))
    };
    let Some(n) = parse_id(id) else {
        return not_found();
    };
    if ctx.proxy.registry.kill(n) {
        tracing::info!(id, "connection closed through the control API");
        let killed = Killed {
            killed: connection_id(n),
        };
        (200, None, json(StatusCode::OK, &killed))
    } else {
        not_found()
    }
}
