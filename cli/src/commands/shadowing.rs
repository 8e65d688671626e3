//! Shadowed stream routes (`model::shadow`) as `apisixctl` reports them: warnings after
//! `validate`, `apply` and `sync` (they never change the exit code), and the `SHADOWED_BY`
//! column of `stream-route list -o wide`.

use std::collections::HashMap;

use model::client::AdminClient;
use model::envelope::Item;
use model::shadow::{shadowed_stored, Shadowed};
use model::ResourceKind;

use crate::output::{paint, Table, Tone};

/// The shadowed routes of an Admin API list, in the server's load order (`createdIndex`,
/// then id).
pub fn of_admin_list(items: &[Item]) -> Vec<Shadowed> {
    let ids: Vec<String> = items
        .iter()
        .map(|i| {
            i.value
                .get("id")
                .and_then(model::types::id_string)
                .unwrap_or_else(|| i.key.rsplit('/').next().unwrap_or(&i.key).to_owned())
        })
        .collect();
    shadowed_stored(
        items
            .iter()
            .zip(&ids)
            .map(|(i, id)| (id.as_str(), &i.value, i.created_index.unwrap_or(0))),
    )
}

/// `warning: stream_routes/7 is shadowed by stream_route 3: it never matches` for each one.
pub fn warning_lines(found: &[Shadowed], color: bool) -> Vec<String> {
    found
        .iter()
        .map(|s| {
            format!(
                "{} stream_routes/{} is {}: it never matches",
                paint("warning:", Tone::Change, color),
                s.id,
                s.describe()
            )
        })
        .collect()
}

/// After writes: reads the server's stream routes and prints a warning (stderr) for each
/// shadowed one; a failed read is a warning too. Never fails.
pub async fn warn_after_writes(admin: &AdminClient, color: bool) {
    match admin.list(ResourceKind::StreamRoutes).await {
        Ok(list) => {
            for line in warning_lines(&of_admin_list(&list.list), color) {
                eprintln!("{line}");
            }
        }
        Err(e) => eprintln!(
            "{} could not check for shadowed stream routes: {e}",
            paint("warning:", Tone::Change, color)
        ),
    }
}

/// Adds the `SHADOWED_BY` column (`-` when not shadowed) to a wide stream route table whose
/// first column is the id.
pub fn add_column(table: &mut Table, found: &[Shadowed]) {
    let by: HashMap<&str, String> = found
        .iter()
        .map(|s| (s.id.as_str(), s.by.join(",")))
        .collect();
    table.headers.push("SHADOWED_BY".to_owned());
    for row in &mut table.rows {
        let id = row.first().map(String::as_str).unwrap_or_default();
        row.push(by.get(id).cloned().unwrap_or_else(|| "-".to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, created: i64, value: serde_json::Value) -> Item {
        Item {
            key: format!("/apisix/stream_routes/{id}"),
            value,
            created_index: Some(created),
            modified_index: Some(created),
        }
    }

    #[test]
    fn the_server_order_decides_and_the_column_names_the_shadowing_route() {
        let items = [
            item(
                "b",
                20,
                json!({"id": "b", "server_port": 9100, "remote_addr": "10.0.0.1"}),
            ),
            item("a", 10, json!({"id": "a", "server_port": 9100})),
        ];
        let found = of_admin_list(&items);
        assert_eq!(found.len(), 1);
        assert_eq!(
            warning_lines(&found, false),
            ["warning: stream_routes/b is shadowed by stream_route a: it never matches"]
        );
        let mut table = Table::new(&["ID", "NAME"]);
        table.rows.push(vec!["a".into(), "-".into()]);
        table.rows.push(vec!["b".into(), "-".into()]);
        add_column(&mut table, &found);
        assert_eq!(
            table.headers.last().map(String::as_str),
            Some("SHADOWED_BY")
        );
        assert_eq!(table.rows[0].last().map(String::as_str), Some("-"));
        assert_eq!(table.rows[1].last().map(String::as_str), Some("a"));
    }
}
