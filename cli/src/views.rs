//! Table columns for each resource kind (`list`/`get` with `-o table|wide`).

use model::ResourceKind;
use serde_json::Value;

use crate::output::{cell, keys_cell, labels_cell, Table};

/// The table of `values` (stored objects) of `kind`.
pub fn resource_table(kind: ResourceKind, values: &[&Value], wide: bool) -> Table {
    let headers: &[&str] = match (kind, wide) {
        (ResourceKind::StreamRoutes, false) => &["ID", "NAME", "SERVER_PORT", "SNI", "UPSTREAM"],
        (ResourceKind::StreamRoutes, true) => &[
            "ID",
            "NAME",
            "REMOTE_ADDR",
            "SERVER_ADDR",
            "SERVER_PORT",
            "SNI",
            "UPSTREAM",
            "PLUGINS",
            "LABELS",
        ],
        (ResourceKind::Upstreams, false) => &["ID", "NAME", "TYPE", "NODES"],
        (ResourceKind::Upstreams, true) => &[
            "ID", "NAME", "TYPE", "NODES", "RETRIES", "SCHEME", "CHECKS", "LABELS",
        ],
        (ResourceKind::Services, false) => &["ID", "NAME", "UPSTREAM", "PLUGINS"],
        (ResourceKind::Services, true) => &["ID", "NAME", "UPSTREAM", "PLUGINS", "DESC", "LABELS"],
        (ResourceKind::Ssls, false) => &["ID", "SNIS", "TYPE", "STATUS"],
        (ResourceKind::Ssls, true) => &["ID", "SNIS", "TYPE", "STATUS", "PROTOCOLS", "LABELS"],
        (ResourceKind::PluginMetadata, _) => &["PLUGIN", "FIELDS"],
    };
    let mut table = Table::new(headers);
    for v in values {
        table.rows.push(row(kind, v, wide));
    }
    table
}

fn row(kind: ResourceKind, v: &Value, wide: bool) -> Vec<String> {
    let f = |k: &str| cell(v.get(k));
    match kind {
        ResourceKind::StreamRoutes if !wide => {
            vec![
                f("id"),
                f("name"),
                f("server_port"),
                f("sni"),
                upstream_ref(v, false),
            ]
        }
        ResourceKind::StreamRoutes => vec![
            f("id"),
            f("name"),
            f("remote_addr"),
            f("server_addr"),
            f("server_port"),
            f("sni"),
            upstream_ref(v, true),
            keys_cell(v.get("plugins")),
            labels_cell(v.get("labels")),
        ],
        ResourceKind::Upstreams => {
            let mut r = vec![f("id"), f("name"), balancer(v), nodes(v.get("nodes"), wide)];
            if wide {
                r.push(f("retries"));
                r.push(f("scheme"));
                r.push(checks(v));
                r.push(labels_cell(v.get("labels")));
            }
            r
        }
        ResourceKind::Services => {
            let mut r = vec![
                f("id"),
                f("name"),
                upstream_ref(v, wide),
                keys_cell(v.get("plugins")),
            ];
            if wide {
                r.push(f("desc"));
                r.push(labels_cell(v.get("labels")));
            }
            r
        }
        ResourceKind::Ssls => {
            let mut snis: Vec<String> = v
                .get("snis")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(s) = v.get("sni").and_then(Value::as_str) {
                snis.push(s.to_owned());
            }
            let status = match v.get("status").and_then(Value::as_i64) {
                Some(0) => "disabled",
                _ => "enabled",
            };
            let mut r = vec![
                f("id"),
                if snis.is_empty() {
                    "-".into()
                } else {
                    snis.join(",")
                },
                v.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("server")
                    .to_owned(),
                status.to_owned(),
            ];
            if wide {
                r.push(
                    v.get("ssl_protocols")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|p| cell(Some(p)))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_else(|| "-".into()),
                );
                r.push(labels_cell(v.get("labels")));
            }
            r
        }
        ResourceKind::PluginMetadata => vec![f("id"), keys_without_id(v)],
    }
}

fn keys_without_id(v: &Value) -> String {
    let keys: Vec<&str> = v
        .as_object()
        .map(|m| {
            m.keys()
                .map(String::as_str)
                .filter(|k| *k != "id")
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        "-".into()
    } else {
        keys.join(",")
    }
}

fn balancer(v: &Value) -> String {
    v.get("type")
        .and_then(Value::as_str)
        .unwrap_or("roundrobin")
        .to_owned()
}

fn checks(v: &Value) -> String {
    match v.get("checks").and_then(Value::as_object) {
        Some(c) => c.keys().cloned().collect::<Vec<_>>().join("+"),
        None => "-".into(),
    }
}

/// `10.0.0.1:80(2),10.0.0.2:80(1)`; narrow tables show at most three then `+N`.
pub fn nodes(nodes: Option<&Value>, wide: bool) -> String {
    let Some(nodes) = nodes else {
        return "-".into();
    };
    let Ok(parsed) = serde_json::from_value::<model::types::Nodes>(nodes.clone()) else {
        return cell(Some(nodes));
    };
    let list: Vec<String> = parsed
        .to_list()
        .iter()
        .map(|n| match n.port {
            Some(p) => format!("{}:{p}({})", n.host, n.weight),
            None => format!("{}({})", n.host, n.weight),
        })
        .collect();
    if list.is_empty() {
        return "-".into();
    }
    if !wide && list.len() > 3 {
        format!("{},+{}", list[..3].join(","), list.len() - 3)
    } else {
        list.join(",")
    }
}

/// Where a route or service sends traffic: `upstream/1`, `service/2`, or its inline nodes.
pub fn upstream_ref(v: &Value, wide: bool) -> String {
    let mut parts = Vec::new();
    if let Some(id) = v.get("upstream_id").and_then(model::types::id_string) {
        parts.push(format!("upstream/{id}"));
    }
    if let Some(up) = v.get("upstream") {
        parts.push(nodes(up.get("nodes"), wide));
    }
    if let Some(id) = v.get("service_id").and_then(model::types::id_string) {
        parts.push(format!("service/{id}"));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wide_route_table_has_match_columns() {
        let route = json!({"id":"1","server_port":9100,"remote_addr":"10.0.0.0/8",
            "upstream":{"nodes":{"127.0.0.1:80":1}},"plugins":{"limit-conn":{}}});
        let t = resource_table(ResourceKind::StreamRoutes, &[&route], true);
        assert_eq!(t.headers[2], "REMOTE_ADDR");
        assert_eq!(
            t.rows[0],
            [
                "1",
                "-",
                "10.0.0.0/8",
                "-",
                "9100",
                "-",
                "127.0.0.1:80(1)",
                "limit-conn",
                "-"
            ]
        );
    }

    #[test]
    fn narrow_nodes_are_capped_at_three() {
        let n = json!([{"host":"a","port":1,"weight":1},{"host":"b","port":1,"weight":1},
            {"host":"c","port":1,"weight":1},{"host":"d","port":1,"weight":1}]);
        assert_eq!(nodes(Some(&n), false), "a:1(1),b:1(1),c:1(1),+1");
        assert_eq!(
            upstream_ref(&json!({"upstream_id": 3, "service_id": "s"}), false),
            "upstream/3 service/s"
        );
    }
}
