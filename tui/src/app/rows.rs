//! The rows each view shows, derived from the snapshot and the list's filter and sort.
//! Update (selection bounds, drill-down) and render both call these, so they agree.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use model::control::{Connection, RouteInfo};

use super::{App, ListState};

/// Sort columns of the routes view.
pub const ROUTE_SORTS: [&str; 6] = ["id", "name", "active", "total", "in/s", "out/s"];
/// Sort columns of the connections view.
pub const CONN_SORTS: [&str; 6] = ["age", "client", "route", "in", "out", "id"];

/// Orders ids numerically when both are numbers, else as text.
pub fn cmp_ids(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn keep(filter: &str, haystack: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    haystack.iter().any(|h| h.to_lowercase().contains(&needle))
}

fn directed(ord: Ordering, state: &ListState) -> Ordering {
    if state.descending {
        ord.reverse()
    } else {
        ord
    }
}

/// Match conditions as one line: `port 9100 addr 127.0.0.1 sni a.com from 10.0.0.0/8`.
pub fn match_text(route: &RouteInfo) -> String {
    let m = &route.matcher;
    let mut parts = Vec::new();
    if let Some(port) = m.server_port {
        parts.push(format!(":{port}"));
    }
    if let Some(addr) = &m.server_addr {
        parts.push(format!("@{addr}"));
    }
    if let Some(sni) = &m.sni {
        parts.push(format!("sni={sni}"));
    }
    if let Some(snis) = m.snis.as_ref().filter(|s| !s.is_empty()) {
        parts.push(format!("sni={}", snis.join(",")));
    }
    if let Some(remote) = &m.remote_addr {
        parts.push(format!("from {remote}"));
    }
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(" ")
    }
}

/// Where a route sends traffic: `upstreams/1` → `1`, or `inline`.
pub fn upstream_text(route: &RouteInfo) -> String {
    match &route.upstream {
        None => "-".into(),
        Some(up) => match up.stored_id() {
            Some(id) => id.to_owned(),
            None => "inline".to_owned(),
        },
    }
}

/// The routes view's rows.
pub fn route_rows(app: &App) -> Vec<&RouteInfo> {
    let state = &app.routes;
    let mut rows: Vec<&RouteInfo> = app
        .snapshot
        .routes
        .iter()
        .filter(|r| {
            let name = r.name.clone().unwrap_or_default();
            keep(
                &state.filter,
                &[&r.id, &name, &match_text(r), &upstream_text(r)],
            )
        })
        .collect();
    rows.sort_by(|a, b| {
        let ord = match state.sort {
            1 => a.name.cmp(&b.name),
            2 => a.stats.active.cmp(&b.stats.active),
            3 => a.stats.total.cmp(&b.stats.total),
            4 => a
                .stats
                .throughput
                .in_rate()
                .total_cmp(&b.stats.throughput.in_rate()),
            5 => a
                .stats
                .throughput
                .out_rate()
                .total_cmp(&b.stats.throughput.out_rate()),
            _ => Ordering::Equal,
        };
        directed(ord.then_with(|| cmp_ids(&a.id, &b.id)), state)
    });
    rows
}

fn conn_sort(state: &ListState, rows: &mut [&Connection]) {
    rows.sort_by(|a, b| {
        let ord = match state.sort {
            0 => a.age_secs.total_cmp(&b.age_secs),
            1 => a.client.cmp(&b.client),
            2 => cmp_ids(&a.route_id, &b.route_id),
            3 => a.bytes_in.cmp(&b.bytes_in),
            4 => a.bytes_out.cmp(&b.bytes_out),
            _ => Ordering::Equal,
        };
        directed(ord.then_with(|| a.id.cmp(&b.id)), state)
    });
}

fn conn_matches(c: &Connection, filter: &str) -> bool {
    let upstream = c.upstream.clone().unwrap_or_default();
    keep(
        filter,
        &[&c.id, &c.client, &c.route_id, &upstream, &c.protocol],
    )
}

/// The connections view's rows.
pub fn conn_rows(app: &App) -> Vec<&Connection> {
    let mut rows: Vec<&Connection> = app
        .snapshot
        .connections
        .iter()
        .filter(|c| conn_matches(c, &app.conns.filter))
        .collect();
    conn_sort(&app.conns, &mut rows);
    rows
}

/// The route detail's connection rows for `route_id`.
pub fn detail_conn_rows<'a>(app: &'a App, route_id: &str) -> Vec<&'a Connection> {
    let mut rows: Vec<&Connection> = app
        .snapshot
        .connections
        .iter()
        .filter(|c| c.route_id == route_id && conn_matches(c, &app.detail.filter))
        .collect();
    conn_sort(&app.detail, &mut rows);
    rows
}

/// The route with this id, if loaded.
pub fn route<'a>(app: &'a App, route_id: &str) -> Option<&'a RouteInfo> {
    app.snapshot.routes.iter().find(|r| r.id == route_id)
}

/// One node of one upstream, as the upstreams view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRow {
    /// Upstream id, or `route <id>` for an inline upstream.
    pub upstream: String,
    /// Upstream name, if any.
    pub name: String,
    /// Balancer type.
    pub balancer: String,
    /// `host:port`.
    pub node: String,
    /// Weight.
    pub weight: u32,
    /// Health; `None` when no route uses it or it is unchecked.
    pub healthy: Option<bool>,
    /// Live sessions to the node.
    pub active: u64,
    /// Routes using this upstream.
    pub routes: Vec<String>,
}

/// The upstreams view's rows: nodes of every upstream the routes use (with health) and of
/// every stored upstream no route uses.
pub fn upstream_rows(app: &App) -> Vec<UpstreamRow> {
    let mut groups: BTreeMap<(bool, String), Vec<UpstreamRow>> = BTreeMap::new();
    let admin_name = |id: &str| {
        app.snapshot
            .admin_upstreams
            .iter()
            .find(|u| u.id.as_deref() == Some(id))
            .and_then(|u| u.name.clone())
            .unwrap_or_default()
    };
    for route in &app.snapshot.routes {
        let Some(up) = &route.upstream else { continue };
        let (inline, id) = match up.stored_id() {
            Some(id) => (false, id.to_owned()),
            None => (true, format!("route {}", route.id)),
        };
        let rows = groups.entry((inline, id.clone())).or_default();
        for node in &up.nodes {
            let addr = node.addr();
            match rows.iter_mut().find(|r| r.node == addr) {
                Some(row) => {
                    row.active = row.active.max(node.active_sessions);
                    if !row.routes.contains(&route.id) {
                        row.routes.push(route.id.clone());
                    }
                }
                None => rows.push(UpstreamRow {
                    upstream: id.clone(),
                    name: if inline {
                        String::new()
                    } else {
                        admin_name(&id)
                    },
                    balancer: up.balancer.clone(),
                    node: addr,
                    weight: node.weight,
                    healthy: Some(node.healthy),
                    active: node.active_sessions,
                    routes: vec![route.id.clone()],
                }),
            }
        }
    }
    for up in &app.snapshot.admin_upstreams {
        let Some(id) = &up.id else { continue };
        groups.entry((false, id.clone())).or_insert_with(|| {
            up.nodes
                .to_list()
                .into_iter()
                .map(|n| UpstreamRow {
                    upstream: id.clone(),
                    name: up.name.clone().unwrap_or_default(),
                    balancer: up.balancer.clone().unwrap_or_else(|| "roundrobin".into()),
                    node: n.port.map_or(n.host.clone(), |p| format!("{}:{p}", n.host)),
                    weight: n.weight,
                    healthy: None,
                    active: 0,
                    routes: Vec::new(),
                })
                .collect()
        });
    }
    let mut keys: Vec<_> = groups.keys().cloned().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| cmp_ids(&a.1, &b.1)));
    keys.into_iter()
        .flat_map(|k| groups.remove(&k).unwrap_or_default())
        .filter(|r| {
            keep(
                &app.upstreams.filter,
                &[&r.upstream, &r.name, &r.node, &r.routes.join(",")],
            )
        })
        .collect()
}

/// Rows in the current view's list.
pub fn row_count(app: &App) -> usize {
    match &app.view {
        super::View::Routes => route_rows(app).len(),
        super::View::RouteDetail { route_id } => detail_conn_rows(app, route_id).len(),
        super::View::Upstreams => upstream_rows(app).len(),
        super::View::Connections => conn_rows(app).len(),
        super::View::Editor | super::View::Tester => 0,
    }
}
