//! Control API commands: `connections list|kill`, `health`, `status`, `ping`,
//! `stream-route stats`. With `-o json|yaml` the gateway's answers are printed as they came;
//! tables read the typed fields of `model::control`.

use std::time::Duration;

use model::client::{ConnectionFilter, ControlClient, ControlGet};
use model::control::{Checker, Connection, RouteInfo};
use serde::Serialize;
use serde_json::{json, Value};

use crate::args::ConnectionsAction;
use crate::context::Ctx;
use crate::output::{cell, key_values, paint, print_machine, Table, Tone};

/// A text cell: `-` when empty.
fn text(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

/// An optional text cell: `-` when absent or empty.
fn opt_text(s: Option<&str>) -> String {
    text(s.unwrap_or_default())
}

/// Prints an object generically: scalars as `key: value`, arrays of objects as tables.
fn print_generic(v: &Value) {
    let Value::Object(map) = v else {
        print!("{}", key_values(v));
        return;
    };
    let scalars: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(_, x)| !x.is_array() && !x.is_object())
        .map(|(k, x)| (k.clone(), x.clone()))
        .collect();
    print!("{}", key_values(&Value::Object(scalars)));
    for (k, x) in map {
        match x {
            Value::Array(a) if a.iter().all(Value::is_object) && !a.is_empty() => {
                let mut keys: Vec<&str> = Vec::new();
                for item in a {
                    for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                        if !keys.contains(&key.as_str()) {
                            keys.push(key);
                        }
                    }
                }
                let headers: Vec<String> = keys.iter().map(|k| k.to_uppercase()).collect();
                let mut t = Table {
                    headers,
                    rows: Vec::new(),
                };
                for item in a {
                    t.rows
                        .push(keys.iter().map(|key| cell(item.get(*key))).collect());
                }
                println!("\n{k}:");
                print!("{}", t.render());
            }
            Value::Array(_) | Value::Object(_) => println!("{k}: {x}"),
            _ => {}
        }
    }
}

/// With `-o json|yaml`, prints the gateway's answer to `get` as it came and returns true;
/// otherwise asks nothing and returns false (the caller prints the typed answer).
async fn printed_as_answered(
    ctx: &Ctx,
    control: &ControlClient,
    get: ControlGet<'_>,
) -> anyhow::Result<bool> {
    if !ctx.machine() {
        return Ok(false);
    }
    print_machine(&control.body(get).await?, ctx.output)?;
    Ok(true)
}

/// Prints a typed answer for people: its fields in the gateway's order, lists as tables.
fn print_typed<T: Serialize>(value: &T) -> anyhow::Result<u8> {
    print_generic(&serde_json::to_value(value)?);
    Ok(0)
}

/// `status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    if printed_as_answered(ctx, &control, ControlGet::Status).await? {
        return Ok(0);
    }
    print_typed(&control.status().await?)
}

/// `stream-route stats [ID]`.
pub async fn route_stats(ctx: &Ctx, id: Option<&str>) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    let what = match id {
        Some(id) => ControlGet::StreamRoute(id),
        None => ControlGet::StreamRoutes,
    };
    if printed_as_answered(ctx, &control, what).await? {
        return Ok(0);
    }
    if let Some(id) = id {
        return print_typed(&control.stream_route(id).await?);
    }
    print!(
        "{}",
        route_table(&control.stream_routes().await?.list).render()
    );
    Ok(0)
}

/// The `stream-route stats` table.
fn route_table(routes: &[RouteInfo]) -> Table {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "PORT",
        "UPSTREAM",
        "ACTIVE",
        "TOTAL",
        "REJECTED",
        "BYTES_IN",
        "BYTES_OUT",
    ]);
    for r in routes {
        let s = &r.stats;
        t.rows.push(vec![
            text(&r.id),
            opt_text(r.name.as_deref()),
            r.matcher
                .server_port
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            opt_text(r.upstream.as_ref().map(|u| u.key.as_str())),
            s.active.to_string(),
            s.total.to_string(),
            s.rejected.sum().to_string(),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
        ]);
    }
    t
}

/// The `connections list` table; ages in tenths of a second, for people.
fn connection_table(conns: &[Connection]) -> Table {
    let mut t = Table::new(&[
        "ID",
        "ROUTE",
        "PROTO",
        "CLIENT",
        "LISTENER",
        "UPSTREAM",
        "AGE_S",
        "BYTES_IN",
        "BYTES_OUT",
    ]);
    for c in conns {
        t.rows.push(vec![
            text(&c.id),
            text(&c.route_id),
            text(&c.protocol),
            text(&c.client),
            text(&c.listener),
            opt_text(c.upstream.as_deref()),
            format!("{:.1}", (c.age_secs * 10.0).round() / 10.0),
            c.bytes_in.to_string(),
            c.bytes_out.to_string(),
        ]);
    }
    t
}

/// `connections list|kill`.
pub async fn connections(ctx: &Ctx, action: ConnectionsAction) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    match action {
        ConnectionsAction::List {
            route,
            upstream,
            client,
            watch,
            interval,
        } => {
            let filter = ConnectionFilter {
                route_id: route,
                upstream,
                client,
            };
            loop {
                if !printed_as_answered(ctx, &control, ControlGet::Connections(&filter)).await? {
                    let conns = control.connections(&filter).await?.list;
                    if watch {
                        print!("\x1b[2J\x1b[H");
                    }
                    print!("{}", connection_table(&conns).render());
                    if watch {
                        println!(
                            "\n{} connections, every {:?}; ctrl-c to stop",
                            conns.len(),
                            interval
                        );
                    }
                }
                if !watch {
                    return Ok(0);
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(0),
                }
            }
        }
        ConnectionsAction::Kill { id } => {
            let answer = control
                .kill_connection(&id, ctx.admin_key.as_deref())
                .await?;
            if ctx.machine() {
                print_machine(
                    &json!({"id": id, "killed": true, "answer": answer}),
                    ctx.output,
                )?;
            } else {
                println!(
                    "connection {id} {}",
                    paint("closed", Tone::Change, ctx.color)
                );
            }
            Ok(0)
        }
    }
}

/// `health`: one row per checked node, then one per node host name with its DNS answer
/// ([`super::health_dns`]). `-o json|yaml` prints `/v1/healthcheck` as it came (the names
/// are in `/v1/upstreams`).
pub async fn health(ctx: &Ctx) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    if printed_as_answered(ctx, &control, ControlGet::Healthcheck).await? {
        return Ok(0);
    }
    let t = health_table(&control.healthcheck().await?, ctx.color);
    if t.rows.is_empty() {
        println!("no health checkers (no upstream, service or stream route has checks)");
    } else {
        print!("{}", t.render());
    }
    let names = super::health_dns::loaded_names(&control).await;
    if !names.is_empty() {
        print!(
            "\n{}",
            super::health_dns::dns_table(&names, ctx.color).render()
        );
    }
    Ok(0)
}

/// The `health` table: one row per node of every checker.
fn health_table(checkers: &[Checker], color: bool) -> Table {
    let mut t = Table::new(&[
        "NAME",
        "TYPE",
        "NODE",
        "STATUS",
        "SUCCESS",
        "HTTP_FAILURE",
        "TCP_FAILURE",
        "TIMEOUT",
    ]);
    for checker in checkers {
        for node in &checker.nodes {
            let tone = if node.is_up() { Tone::Good } else { Tone::Bad };
            let counter = &node.counter;
            t.rows.push(vec![
                text(&checker.name),
                text(&checker.check_type),
                format!("{}:{}", text(&node.ip), node.port),
                paint(&text(&node.status), tone, color),
                counter.success.to_string(),
                counter.http_failure.to_string(),
                counter.tcp_failure.to_string(),
                counter.timeout_failure.to_string(),
            ]);
        }
    }
    t
}

/// `ping`: Admin API reachable, key accepted, Control API reachable. Exit 1 if any fails.
pub async fn ping(ctx: &Ctx) -> anyhow::Result<u8> {
    let admin = ctx.admin()?;
    let control = ctx.control()?;
    let admin_up = admin.ping().await;
    let key = match &admin_up {
        Ok(_) => Some(admin.plugins_list().await),
        Err(_) => None,
    };
    let control_up = control.ping().await;
    let ms = |d: &Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let ok = admin_up.is_ok() && matches!(key, Some(Ok(_))) && control_up.is_ok();
    if ctx.machine() {
        let out = json!({
            "admin": {"url": ctx.server, "ok": admin_up.is_ok(),
                      "error": admin_up.as_ref().err().map(ToString::to_string)},
            "admin_key": {"source": ctx.key_source, "ok": matches!(key, Some(Ok(_))),
                          "error": key.as_ref().and_then(|k| k.as_ref().err()).map(ToString::to_string)},
            "control": {"url": ctx.control, "ok": control_up.is_ok(),
                        "error": control_up.as_ref().err().map(ToString::to_string)},
        });
        print_machine(&out, ctx.output)?;
    } else {
        let line = |name: &str, r: Result<String, String>| match r {
            Ok(t) => println!("{name:<8} {} {t}", paint("ok", Tone::Good, ctx.color)),
            Err(e) => println!("{name:<8} {} {e}", paint("FAIL", Tone::Bad, ctx.color)),
        };
        line(
            "admin",
            admin_up
                .as_ref()
                .map(|d| format!("{} ({})", ctx.server, ms(d)))
                .map_err(ToString::to_string),
        );
        match key {
            Some(Ok(_)) => line("key", Ok(format!("accepted (from {})", ctx.key_source))),
            Some(Err(e)) => line("key", Err(format!("{e} (from {})", ctx.key_source))),
            None => line("key", Err("not checked: admin API unreachable".to_owned())),
        }
        line(
            "control",
            control_up
                .as_ref()
                .map(|d| format!("{} ({})", ctx.control, ms(d)))
                .map_err(ToString::to_string),
        );
    }
    Ok(u8::from(!ok))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::control::{CheckedNode, Rejected, RouteStats, RouteUpstream};

    #[test]
    fn connection_ages_show_in_tenths_and_missing_upstreams_as_dashes() {
        let conns = [Connection {
            id: "c1".into(),
            route_id: "7".into(),
            client: "1.2.3.4:5".into(),
            age_secs: 12.46,
            bytes_in: 10,
            ..Connection::default()
        }];
        let t = connection_table(&conns);
        assert_eq!(t.rows[0][..6], ["c1", "7", "-", "1.2.3.4:5", "-", "-"]);
        assert_eq!(t.rows[0][6..], ["12.5", "10", "0"]);
    }

    #[test]
    fn route_rows_sum_rejections_and_name_the_upstream_key() {
        let route = RouteInfo {
            id: "1".into(),
            upstream: Some(RouteUpstream {
                key: "upstreams/1".into(),
                ..RouteUpstream::default()
            }),
            stats: RouteStats {
                active: 2,
                rejected: Rejected {
                    no_upstream: 1,
                    connect_failed: 3,
                    plugin: 0,
                },
                ..RouteStats::default()
            },
            ..RouteInfo::default()
        };
        let t = route_table(&[route]);
        assert_eq!(
            t.rows[0][..7],
            ["1", "-", "-", "upstreams/1", "2", "0", "4"]
        );
    }

    #[test]
    fn health_rows_show_each_node_with_its_counters() {
        let checker = Checker {
            name: "/apisix/upstreams/1".into(),
            check_type: "tcp".into(),
            nodes: vec![CheckedNode {
                ip: "127.0.0.1".into(),
                port: 3306,
                status: "mostly_unhealthy".into(),
                ..CheckedNode::default()
            }],
        };
        let t = health_table(&[checker], false);
        assert_eq!(
            t.rows[0][..4],
            [
                "/apisix/upstreams/1",
                "tcp",
                "127.0.0.1:3306",
                "mostly_unhealthy"
            ]
        );
    }
}
