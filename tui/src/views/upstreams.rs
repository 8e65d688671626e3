//! The upstreams view: one row per node of every upstream (stored or inline in a route),
//! with weight, health, live sessions and the routes that use it.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use super::{header_style, list_title, selected_style, table_state};
use crate::app::rows::upstream_rows;
use crate::app::App;
use crate::units;

/// Draws the upstreams view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = upstream_rows(app);
    let wide = area.width >= 100;
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let (health, color) = match r.healthy {
                Some(true) => ("healthy", Color::Green),
                Some(false) => ("UNHEALTHY", Color::Red),
                None => ("unknown", Color::Gray),
            };
            let mut cells = vec![
                Cell::from(units::clip(&r.upstream, 10)),
                Cell::from(units::clip(&r.name, if wide { 16 } else { 10 })),
            ];
            if wide {
                cells.push(Cell::from(r.balancer.clone()));
            }
            cells.extend([
                Cell::from(r.node.clone()),
                Cell::from(r.weight.to_string()),
                Cell::from(health).style(Style::new().fg(color).bold()),
                Cell::from(r.active.to_string()),
                Cell::from(if r.routes.is_empty() {
                    "-".into()
                } else {
                    r.routes.join(",")
                }),
            ]);
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["UPSTREAM", "NAME"];
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Length(if wide { 16 } else { 10 }),
    ];
    if wide {
        header.push("TYPE");
        widths.push(Constraint::Length(10));
    }
    header.extend(["NODE", "WEIGHT", "HEALTH", "ACTIVE", "ROUTES"]);
    widths.extend([
        Constraint::Length(21),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Min(6),
    ]);
    let table = Table::new(body, widths)
        .header(Row::new(header).style(header_style()))
        .block(Block::bordered().title(list_title("Upstreams", rows.len(), &app.upstreams, &[])))
        .row_highlight_style(selected_style());
    let mut state = table_state(&app.upstreams, rows.len());
    frame.render_stateful_widget(table, area, &mut state);
}
