//! The upstreams view: one row per node of every upstream (stored or inline in a route),
//! with weight, health, live sessions and the routes that use it.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{list_title, render_list};
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
    let mut columns = vec![
        ("UPSTREAM", Constraint::Length(10)),
        ("NAME", Constraint::Length(if wide { 16 } else { 10 })),
    ];
    if wide {
        columns.push(("TYPE", Constraint::Length(10)));
    }
    columns.extend([
        ("NODE", Constraint::Length(21)),
        ("WEIGHT", Constraint::Length(6)),
        ("HEALTH", Constraint::Length(9)),
        ("ACTIVE", Constraint::Length(6)),
        ("ROUTES", Constraint::Min(6)),
    ]);
    let title = list_title("Upstreams", rows.len(), &app.upstreams, &[]);
    render_list(frame, area, title, columns, body, &app.upstreams);
}
