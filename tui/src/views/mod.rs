//! One file per view; each draws the body area from `&App`. This module holds the pieces
//! every list view shares: the block title (count, filter, sort), the selection style and
//! [`render_list`], which draws a list's table.
//!
//! - [`routes`]: routes table with rates and sparklines.
//! - [`route_detail`]: one route: throughput chart, its connections, its nodes.
//! - [`upstreams`]: every upstream's nodes with weight, health and sessions.
//! - [`connections`]: live connections.
//! - [`editor`]: the route form / raw JSON.
//! - [`tester`]: the route test.
//! - [`help`]: the help overlay, generated from the keymap.

pub mod connections;
pub mod editor;
pub mod help;
pub mod route_detail;
pub mod routes;
pub mod tester;
pub mod upstreams;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Row, Table, TableState};
use ratatui::Frame;

use crate::app::ListState;

/// The columns every connection list ends with: age, bytes in, bytes out.
pub const CONN_AGE_AND_BYTES: [(&str, Constraint); 3] = [
    ("AGE", Constraint::Length(6)),
    ("IN", Constraint::Length(6)),
    ("OUT", Constraint::Length(6)),
];

/// Style of the selected row.
pub fn selected_style() -> Style {
    Style::new()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}

/// Style of column headers.
pub fn header_style() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// ` Routes (3) /filter  sort: active ↓ `.
pub fn list_title(name: &str, count: usize, list: &ListState, sorts: &[&str]) -> String {
    let mut title = format!(" {name} ({count})");
    if !list.filter.is_empty() {
        title.push_str(&format!("  /{}", list.filter));
    }
    if let Some(column) = sorts.get(list.sort) {
        let arrow = if list.descending { "↓" } else { "↑" };
        title.push_str(&format!("  sort: {column} {arrow}"));
    }
    title.push(' ');
    title
}

/// A table state selecting `list.selected` (none when the list is empty).
pub fn table_state(list: &ListState, rows: usize) -> TableState {
    TableState::default().with_selected((rows > 0).then(|| list.selected.min(rows - 1)))
}

/// Draws a list view's table: `columns` as (header, width), one row per item of `list`, and
/// `list`'s selection.
pub fn render_list(
    frame: &mut Frame,
    area: Rect,
    title: String,
    columns: Vec<(&str, Constraint)>,
    rows: Vec<Row>,
    list: &ListState,
) {
    let (header, widths): (Vec<&str>, Vec<Constraint>) = columns.into_iter().unzip();
    let mut state = table_state(list, rows.len());
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(header_style()))
        .block(Block::bordered().title(title))
        .row_highlight_style(selected_style());
    frame.render_stateful_widget(table, area, &mut state);
}

/// A centred rectangle of at most `width` x `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}
