//! The live connections list: id, client, route, upstream node, protocol, age and bytes
//! each way; sortable and filterable, ctrl-d kills the selected one (after confirmation).

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{list_title, render_list, CONN_AGE_AND_BYTES};
use crate::app::rows::{conn_rows, CONN_SORTS};
use crate::app::App;
use crate::units;

/// Draws the connections view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = conn_rows(app);
    let wide = area.width >= 100;
    let body: Vec<Row> = rows
        .iter()
        .map(|c| {
            let mut cells = Vec::new();
            if wide {
                cells.push(Cell::from(c.id.clone()));
            }
            cells.extend([
                Cell::from(c.client.clone()),
                Cell::from(c.route_id.clone()),
                Cell::from(c.upstream.clone().unwrap_or_else(|| "-".into())),
                Cell::from(c.protocol.clone()),
                Cell::from(Text::from(units::age(c.age_secs)).right_aligned()),
                Cell::from(Text::from(units::bytes(c.bytes_in)).right_aligned()),
                Cell::from(Text::from(units::bytes(c.bytes_out)).right_aligned()),
            ]);
            if wide {
                cells.push(Cell::from(units::age(c.last_activity_secs_ago)));
            }
            Row::new(cells)
        })
        .collect();
    let mut columns = Vec::new();
    if wide {
        columns.push(("ID", Constraint::Length(19)));
    }
    columns.extend([
        ("CLIENT", Constraint::Min(16)),
        ("ROUTE", Constraint::Length(6)),
        ("NODE", Constraint::Min(16)),
        ("PROTO", Constraint::Length(5)),
    ]);
    columns.extend(CONN_AGE_AND_BYTES);
    if wide {
        columns.push(("IDLE", Constraint::Length(6)));
    }
    let title = list_title("Connections", rows.len(), &app.conns, &CONN_SORTS);
    render_list(frame, area, title, columns, body, &app.conns);
}
