//! Control API commands: `match`, `connections list|kill`, `health`, `status`, `ping`,
//! `stream-route stats`. The gateway's answers are shown as they come (JSON/YAML), or as
//! tables of the fields we know, tolerating missing and extra fields.

use std::time::Duration;

use model::client::{ConnectionFilter, MatchQuery};
use serde_json::{json, Value};

use crate::args::{ConnectionsAction, MatchArgs};
use crate::context::Ctx;
use crate::output::{cell, key_values, paint, print_machine, Table, Tone};

/// The items of a list answer: an array, or `{list|connections|routes|items: [...]}`.
pub fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => ["list", "connections", "routes", "stream_routes", "items"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_array).cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The value at a dotted path (`stats.active`).
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// The first present field among `names` (dotted paths allowed), as a cell. An object of
/// numbers (e.g. `stats.rejected` by reason) shows as their sum.
fn pick(v: &Value, names: &[&str]) -> String {
    match names.iter().find_map(|n| at(v, n).filter(|x| !x.is_null())) {
        Some(Value::Object(m)) if m.values().all(Value::is_number) => m
            .values()
            .filter_map(Value::as_u64)
            .sum::<u64>()
            .to_string(),
        other => cell(other),
    }
}

/// A table with the given (header, field alternatives) columns.
pub fn table_of(rows: &[Value], columns: &[(&str, &[&str])]) -> Table {
    let mut t = Table::new(&columns.iter().map(|c| c.0).collect::<Vec<_>>());
    for r in rows {
        t.rows
            .push(columns.iter().map(|(_, names)| pick(r, names)).collect());
    }
    t
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

fn show(ctx: &Ctx, v: &Value) -> anyhow::Result<u8> {
    if ctx.machine() {
        print_machine(v, ctx.output)?;
    } else {
        print_generic(v);
    }
    Ok(0)
}

/// `match`.
pub async fn match_route(ctx: &Ctx, args: &MatchArgs) -> anyhow::Result<u8> {
    let q = MatchQuery {
        client: args.client.clone(),
        server_addr: args.server_addr.clone(),
        server_port: args.server_port,
        sni: args.sni.clone(),
        protocol: args.protocol.clone(),
    };
    let answer = ctx.control()?.match_route(&q).await?;
    show(ctx, &answer)
}

/// `status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<u8> {
    let answer = ctx.control()?.status().await?;
    show(ctx, &answer)
}

/// `stream-route stats [ID]`.
pub async fn route_stats(ctx: &Ctx, id: Option<&str>) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    let answer = match id {
        Some(id) => return show(ctx, &control.stream_route(id).await?),
        None => control.stream_routes().await?,
    };
    if ctx.machine() {
        print_machine(&answer, ctx.output)?;
        return Ok(0);
    }
    let cols: &[(&str, &[&str])] = &[
        ("ID", &["id"]),
        ("NAME", &["name"]),
        ("PORT", &["match.server_port"]),
        ("UPSTREAM", &["upstream.key"]),
        ("ACTIVE", &["stats.active"]),
        ("TOTAL", &["stats.total"]),
        ("REJECTED", &["stats.rejected"]),
        ("BYTES_IN", &["stats.bytes_in"]),
        ("BYTES_OUT", &["stats.bytes_out"]),
    ];
    print!("{}", table_of(&items(&answer), cols).render());
    Ok(0)
}

/// Columns of `connections list` (docs/control-api.md field names first).
const CONNECTION_COLUMNS: &[(&str, &[&str])] = &[
    ("ID", &["id"]),
    ("ROUTE", &["route_id", "route"]),
    ("PROTO", &["protocol"]),
    ("CLIENT", &["client", "client_addr"]),
    ("LISTENER", &["listener", "listen_addr"]),
    ("UPSTREAM", &["upstream", "node"]),
    ("AGE_S", &["age_secs"]),
    ("BYTES_IN", &["bytes_in"]),
    ("BYTES_OUT", &["bytes_out"]),
];

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
                let answer = control.connections(&filter).await?;
                if ctx.machine() {
                    print_machine(&answer, ctx.output)?;
                } else {
                    if watch {
                        print!("\x1b[2J\x1b[H");
                    }
                    let rows = items(&answer);
                    print!("{}", table_of(&rows, CONNECTION_COLUMNS).render());
                    if watch {
                        println!(
                            "\n{} connections, every {:?}; ctrl-c to stop",
                            rows.len(),
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

/// `health`: one row per checked node.
pub async fn health(ctx: &Ctx) -> anyhow::Result<u8> {
    let answer = ctx.control()?.healthcheck().await?;
    if ctx.machine() {
        print_machine(&answer, ctx.output)?;
        return Ok(0);
    }
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
    for checker in items(&answer) {
        for node in checker
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let addr = format!("{}:{}", pick(node, &["ip", "host"]), pick(node, &["port"]));
            let status = pick(node, &["status"]);
            let tone = if status == "healthy" || status == "mostly_healthy" {
                Tone::Good
            } else {
                Tone::Bad
            };
            let counter = node.get("counter").cloned().unwrap_or(Value::Null);
            t.rows.push(vec![
                pick(&checker, &["name"]),
                pick(&checker, &["type"]),
                addr,
                paint(&status, tone, ctx.color),
                pick(&counter, &["success"]),
                pick(&counter, &["http_failure"]),
                pick(&counter, &["tcp_failure"]),
                pick(&counter, &["timeout_failure"]),
            ]);
        }
    }
    if t.rows.is_empty() {
        println!("no health checkers (no upstream, service or stream route has checks)");
    } else {
        print!("{}", t.render());
    }
    Ok(0)
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

    #[test]
    fn items_accept_arrays_and_wrapped_lists() {
        assert_eq!(items(&json!([{"id": 1}])).len(), 1);
        assert_eq!(
            items(&json!({"connections": [{"id": 1}, {"id": 2}]})).len(),
            2
        );
        assert!(items(&json!({"other": 1})).is_empty());
    }

    #[test]
    fn connection_table_uses_known_field_alternatives() {
        let rows =
            vec![json!({"id": "c1", "route": "7", "client_addr": "1.2.3.4:5", "bytes_in": 10})];
        let t = table_of(&rows, CONNECTION_COLUMNS);
        assert_eq!(t.rows[0][..4], ["c1", "7", "-", "1.2.3.4:5"]);
        assert_eq!(t.rows[0][7], "10");
    }

    #[test]
    fn nested_stats_and_rejection_sums_show_in_cells() {
        let route = json!({"id": "1", "stats": {"active": 2, "rejected": {"a": 1, "b": 3}}});
        assert_eq!(pick(&route, &["stats.active"]), "2");
        assert_eq!(pick(&route, &["stats.rejected"]), "4");
        assert_eq!(pick(&route, &["stats.missing", "id"]), "1");
    }
}
