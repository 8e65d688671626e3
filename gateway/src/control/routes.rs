//! Our Control API endpoints about the configuration in force: `/v1/status`,
//! `/v1/stream_routes[/{id}]` (with live stats) and `/v1/match` (the route-match explainer),
//! each built as its `model::control` type.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use model::control::{
    ControlList, Listener, MatchInput, MatchReport, RouteInfo, RouteMatch, RouteUpstream,
    RouteVerdict, SessionLimit, Status,
};

use super::ControlContext;
use crate::admin::request::QueryArgs;
use crate::config::{ConfigProvider, Role};
use crate::conn::{ConnInfo, Transport};
use crate::http_reply::{error, json};
use crate::proxy::tls::routes::sni_warnings_for_port;
use crate::route::ResolvedRoute;
use crate::session::routestats::RouteStats;

type Reply = Response<Full<Bytes>>;

/// `GET /v1/status`.
pub(super) async fn status(ctx: &ControlContext) -> Reply {
    let config = &ctx.config;
    let role = match config.deployment.role {
        Role::Traditional => "traditional",
        Role::DataPlane => "data_plane",
        Role::ControlPlane => "control_plane",
    };
    let provider = match config.deployment.config_provider {
        ConfigProvider::Embedded => "embedded",
        ConfigProvider::Etcd => "etcd",
        ConfigProvider::Yaml => "yaml",
    };
    let reachable = match &ctx.store {
        Some(store) => store.reachable().await,
        None => false,
    };
    let (tcp, udp) = config.stream_listens();
    let mut listeners: Vec<Listener> = tcp
        .iter()
        .map(|l| Listener {
            protocol: "tcp".to_owned(),
            addr: l.addr.to_string(),
            tls: l.tls,
            sni_preread: l.sni_preread,
            proxy_protocol: l.proxy_protocol,
        })
        .collect();
    listeners.extend(udp.iter().map(|addr| Listener {
        protocol: "udp".to_owned(),
        addr: addr.to_string(),
        ..Listener::default()
    }));
    let status = Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: ctx.started.elapsed().as_secs_f64(),
        role: role.to_owned(),
        config_provider: provider.to_owned(),
        store_reachable: reachable,
        config_revision: ctx.snapshot.load().revision,
        listeners,
        sessions: SessionLimit {
            capacity: ctx.proxy.admission.capacity() as u64,
            in_use: ctx.proxy.admission.in_use() as u64,
            at_cap_secs: ctx.proxy.admission.time_at_cap().as_secs_f64(),
        },
    };
    json(StatusCode::OK, &status)
}

/// One route as `/v1/stream_routes` shows it; `shadowed_by` from the snapshot's route table.
fn route_view(ctx: &ControlContext, route: &ResolvedRoute, shadowed_by: &[String]) -> RouteInfo {
    let r = &route.route;
    let upstream = route.upstream.as_ref().map(|up| RouteUpstream {
        key: up.key.clone(),
        balancer: up
            .config
            .balancer
            .clone()
            .unwrap_or_else(|| "roundrobin".to_owned()),
        nodes: up.nodes().into_iter().map(|n| n.info).collect(),
        dns: up.dns_names(),
    });
    let stats = ctx
        .proxy
        .sessions
        .routes
        .get(&route.id)
        .map(|s| s.view())
        .unwrap_or_else(|| RouteStats::default().view());
    RouteInfo {
        id: route.id.clone(),
        name: route.name.clone(),
        matcher: RouteMatch {
            remote_addr: r.remote_addr.clone(),
            server_addr: r.server_addr.clone(),
            server_port: r.server_port,
            sni: r.sni.clone(),
            snis: r.snis.clone(),
        },
        upstream,
        upstream_error: route.upstream_error.clone(),
        plugins: route.plugins.keys().cloned().collect(),
        shadowed_by: shadowed_by.to_vec(),
        stats,
    }
}

/// `GET /v1/stream_routes`: every loaded route (subordinate xRPC routes included), by id.
pub(super) fn stream_routes(ctx: &ControlContext) -> Reply {
    let snapshot = ctx.snapshot.load();
    let shadowed = snapshot.routes.shadowed();
    let list = snapshot
        .route_map
        .values()
        .map(|r| route_view(ctx, r, shadowed_by(shadowed, &r.id)))
        .collect();
    json(StatusCode::OK, &ControlList::new(list))
}

/// `GET /v1/stream_routes/{id}`.
pub(super) fn stream_route(ctx: &ControlContext, id: &str) -> Reply {
    let snapshot = ctx.snapshot.load();
    match snapshot.route(id) {
        Some(route) => {
            let shadowed = shadowed_by(snapshot.routes.shadowed(), id);
            json(StatusCode::OK, &route_view(ctx, route, shadowed))
        }
        None => error(
            StatusCode::NOT_FOUND,
            format!("stream_route[{id}] not found"),
        ),
    }
}

/// The routes that shadow `id` (empty when none do).
fn shadowed_by<'a>(shadowed: &'a HashMap<String, Vec<String>>, id: &str) -> &'a [String] {
    shadowed.get(id).map(Vec::as_slice).unwrap_or(&[])
}

/// The configured stream listener on `port` for `transport`, if any.
fn configured_listen(
    config: &crate::config::Config,
    transport: Transport,
    port: u16,
) -> Option<SocketAddr> {
    match transport {
        Transport::Tcp => config
            .stream
            .tcp
            .iter()
            .map(|l| l.addr)
            .find(|a| a.port() == port),
        Transport::Udp => config.stream.udp.iter().copied().find(|a| a.port() == port),
    }
}

/// Parses `IP` or `IP:port` (`[v6]:port` too); a bare IP gets port 0.
fn parse_client(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)))
}

/// `GET /v1/match?client=IP[:port][&server_addr=IP]&server_port=N[&sni=NAME][&protocol=tcp|udp]`.
pub(super) fn explain(ctx: &ControlContext, args: &QueryArgs) -> Reply {
    let bad = |msg: String| error(StatusCode::BAD_REQUEST, msg);
    let Some(client) = args.get("client") else {
        return bad("missing query argument client".into());
    };
    let Some(client) = parse_client(client) else {
        return bad(format!("invalid client: {client}"));
    };
    let Some(server_port) = args.get("server_port") else {
        return bad("missing query argument server_port".into());
    };
    let Ok(server_port) = server_port.parse::<u16>() else {
        return bad(format!("invalid server_port: {server_port}"));
    };
    let transport = match args.get("protocol").unwrap_or("tcp") {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        other => return bad(format!("invalid protocol: {other} (tcp or udp)")),
    };
    let listen = configured_listen(&ctx.config, transport, server_port);
    let server_ip = match args.get("server_addr") {
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return bad(format!("invalid server_addr: {text}")),
        },
        // The address a local client reaches: the listener's own, or loopback for a wildcard.
        None => listen
            .map(|addr| addr.ip())
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
    };
    let sni = args.get("sni").filter(|s| !s.is_empty()).map(str::to_owned);
    let conn = ConnInfo {
        remote: client,
        local: SocketAddr::new(server_ip, server_port),
        sni: sni.clone(),
        transport,
    };
    let snapshot = ctx.snapshot.load();
    let verdicts = snapshot.routes.explain(&conn);
    let matched = verdicts
        .iter()
        .find(|v| v.failed.is_none())
        .map(|v| v.route_id.clone());
    let mut warnings = Vec::new();
    if sni.is_some() && transport == Transport::Udp {
        warnings.push("sni is ignored for udp".to_owned());
    }
    if let Some(route) = matched.as_deref().and_then(|id| snapshot.route(id)) {
        if let Some(why) = &route.upstream_error {
            warnings.push(format!(
                "route {} has no upstream: connections are closed ({why})",
                route.id
            ));
        }
    }
    if listen.is_none() {
        let proto = if transport == Transport::Udp {
            "udp"
        } else {
            "tcp"
        };
        warnings.push(format!(
            "no stream_proxy.{proto} listener on port {server_port}: no connection can arrive there"
        ));
    }
    if transport == Transport::Tcp {
        let tcp_listen = ctx
            .config
            .stream
            .tcp
            .iter()
            .find(|l| l.addr.port() == server_port);
        warnings.extend(sni_warnings_for_port(
            &snapshot,
            tcp_listen,
            ctx.config.ssl.fallback_sni.is_some(),
            server_port,
            sni.as_deref(),
        ));
    }
    if snapshot.routes.is_empty() {
        warnings.push("no stream routes are loaded".to_owned());
    }
    let report = MatchReport {
        matched,
        input: MatchInput {
            client: client.to_string(),
            server_addr: server_ip.to_string(),
            server_port,
            sni,
            protocol: if transport == Transport::Tcp {
                "tcp"
            } else {
                "udp"
            }
            .to_owned(),
        },
        routes: verdicts
            .iter()
            .map(|v| RouteVerdict {
                id: v.route_id.clone(),
                matched: v.failed.is_none(),
                reason: v.failed.clone(),
                shadowed_by: shadowed_by(snapshot.routes.shadowed(), &v.route_id).to_vec(),
            })
            .collect(),
        warnings,
    };
    json(StatusCode::OK, &report)
}
