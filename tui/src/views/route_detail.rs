//! One route: a summary (match, upstream, plugins, counters), a throughput chart of the
//! last minute (bytes in and out per second), its live connections and its upstream nodes
//! with health.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Row, Table};
use ratatui::Frame;

use super::{header_style, list_title, render_list};
use crate::app::rows::{detail_conn_rows, match_text, route, upstream_text};
use crate::app::App;
use crate::units;
use model::control::{RouteInfo, Throughput};

/// Draws the route detail view.
pub fn render(frame: &mut Frame, area: Rect, app: &App, route_id: &str) {
    let Some(route) = route(app, route_id) else {
        let text = format!("stream_route {route_id} is not loaded (deleted, or no data yet)");
        frame.render_widget(
            Paragraph::new(text).block(Block::bordered().title(" Route ")),
            area,
        );
        return;
    };
    let [summary, chart, lists] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Percentage(45),
        Constraint::Min(4),
    ])
    .areas(area);
    render_summary(frame, summary, route);
    render_chart(frame, chart, &route.stats.throughput);
    let [conns, nodes] = if area.width >= 100 {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(lists)
    } else {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(lists)
    };
    render_conns(frame, conns, app, route_id);
    render_nodes(frame, nodes, route);
}

fn render_summary(frame: &mut Frame, area: Rect, route: &RouteInfo) {
    let s = &route.stats;
    let plugins = if route.plugins.is_empty() {
        "-".to_owned()
    } else {
        route.plugins.join(", ")
    };
    let upstream = match &route.upstream_error {
        Some(why) if route.upstream.is_none() => format!("- ({why})"),
        _ => upstream_text(route),
    };
    let mut lines = vec![
        Line::from(format!(
            "match {}   upstream {}   plugins {}",
            match_text(route),
            upstream,
            plugins
        )),
        Line::from(format!(
            "active {}   total {}   in {} ({})   out {} ({})",
            s.active,
            s.total,
            units::bytes(s.bytes_in),
            units::rate(s.throughput.in_rate()),
            units::bytes(s.bytes_out),
            units::rate(s.throughput.out_rate()),
        )),
        Line::from(format!(
            "rejected: no_upstream {}   connect_failed {}   plugin {}",
            s.rejected.no_upstream, s.rejected.connect_failed, s.rejected.plugin
        )),
    ];
    if !route.shadowed_by.is_empty() {
        let never = model::shadow::describe(&route.shadowed_by);
        lines[2] = Line::styled(
            format!("⊘ {never}: it never matches"),
            Style::new().fg(Color::Yellow),
        );
    }
    let title = match &route.name {
        Some(name) if !name.is_empty() => format!(" Route {} · {} ", route.id, name),
        _ => format!(" Route {} ", route.id),
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn points(series: &[u64], interval: f64) -> Vec<(f64, f64)> {
    let start = series.len().saturating_sub(60);
    series[start..]
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, *v as f64 / interval))
        .collect()
}

fn render_chart(frame: &mut Frame, area: Rect, t: &Throughput) {
    let interval = t.interval_secs.max(1) as f64;
    let inbound = points(&t.bytes_in, interval);
    let outbound = points(&t.bytes_out, interval);
    let max = inbound
        .iter()
        .chain(&outbound)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0);
    let span = (inbound.len().max(outbound.len()).max(2) - 1) as f64;
    let line = |name, color, data| {
        Dataset::default()
            .name(name)
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(color))
            .data(data)
    };
    let datasets = vec![
        line("in", Color::Cyan, &inbound),
        line("out", Color::Magenta, &outbound),
    ];
    let seconds = (span * interval) as u64;
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(" Throughput (bytes/s) "))
        .x_axis(
            Axis::default()
                .bounds([0.0, span])
                .labels([format!("-{seconds}s"), "now".to_owned()]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, max])
                .labels(["0".to_owned(), units::rate(max)]),
        );
    frame.render_widget(chart, area);
}

fn render_conns(frame: &mut Frame, area: Rect, app: &App, route_id: &str) {
    let rows = detail_conn_rows(app, route_id);
    // The node column only fits when the pane is wide; the nodes pane lists them anyway.
    let with_node = area.width >= 60;
    let body: Vec<Row> = rows
        .iter()
        .map(|c| {
            let mut cells = vec![c.client.clone()];
            if with_node {
                cells.push(c.upstream.clone().unwrap_or_else(|| "-".into()));
            }
            cells.extend([
                units::age(c.age_secs),
                units::bytes(c.bytes_in),
                units::bytes(c.bytes_out),
            ]);
            Row::new(cells)
        })
        .collect();
    let mut columns = vec![("CLIENT", Constraint::Min(15))];
    if with_node {
        columns.push(("NODE", Constraint::Min(15)));
    }
    columns.extend([
        ("AGE", Constraint::Length(6)),
        ("IN", Constraint::Length(6)),
        ("OUT", Constraint::Length(6)),
    ]);
    let title = list_title("Connections", rows.len(), &app.detail, &[]);
    render_list(frame, area, title, columns, body, &app.detail);
}

fn render_nodes(frame: &mut Frame, area: Rect, route: &RouteInfo) {
    let nodes = route
        .upstream
        .as_ref()
        .map(|u| u.nodes.as_slice())
        .unwrap_or_default();
    let body: Vec<Row> = nodes
        .iter()
        .map(|n| {
            let (health, color) = if n.healthy {
                ("up", Color::Green)
            } else {
                ("DOWN", Color::Red)
            };
            Row::new(vec![
                ratatui::widgets::Cell::from(n.addr()),
                ratatui::widgets::Cell::from(n.weight.to_string()),
                ratatui::widgets::Cell::from(health).style(Style::new().fg(color).bold()),
                ratatui::widgets::Cell::from(n.active_sessions.to_string()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Min(14),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    let table = Table::new(body, widths)
        .header(Row::new(["NODE", "WT", "HLTH", "ACT"]).style(header_style()))
        .block(Block::bordered().title(format!(" Nodes ({}) ", nodes.len())));
    frame.render_widget(table, area);
}
