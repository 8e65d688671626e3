//! The live connections list: id, client, route, upstream node, protocol, age and bytes
//! each way; sortable and filterable, ctrl-d kills the selected one (after confirmation).

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use super::{header_style, list_title, selected_style, table_state};
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
    let mut header = Vec::new();
    let mut widths = Vec::new();
    if wide {
        header.push("ID");
        widths.push(Constraint::Length(19));
    }
    header.extend(["CLIENT", "ROUTE", "NODE", "PROTO", "AGE", "IN", "OUT"]);
    widths.extend([
        Constraint::Min(16),
        Constraint::Length(6),
        Constraint::Min(16),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
    ]);
    if wide {
        header.push("IDLE");
        widths.push(Constraint::Length(6));
    }
    let table = Table::new(body, widths)
        .header(Row::new(header).style(header_style()))
        .block(Block::bordered().title(list_title(
            "Connections",
            rows.len(),
            &app.conns,
            &CONN_SORTS,
        )))
        .row_highlight_style(selected_style());
    let mut state = table_state(&app.conns, rows.len());
    frame.render_stateful_widget(table, area, &mut state);
}
