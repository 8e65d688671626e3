//! The routes table: id/name, match conditions, upstream, active, total, in/out rates and a
//! sparkline of the last minute's bytes both ways. Narrow terminals get narrower columns
//! and a shorter sparkline. A shadowed route (the gateway's `shadowed_by`: earlier routes
//! take every connection it would take) is marked `⊘` and drawn in yellow, with the routes
//! that shadow it in the MATCH column.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Text;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{list_title, render_list};
use crate::app::rows::{match_text, route_rows, upstream_text, ROUTE_SORTS};
use crate::app::App;
use crate::units;

/// Draws the routes view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = route_rows(app);
    let wide = area.width >= 100;
    let id_w: u16 = if wide { 20 } else { 12 };
    let match_w: u16 = if wide { 24 } else { 16 };
    let up_w: u16 = if wide { 10 } else { 8 };
    let act_w: u16 = if wide { 5 } else { 4 };
    let fixed = id_w + match_w + up_w + act_w + 6 + 7 + 7 + 2;
    let spark_w = area.width.saturating_sub(fixed + 8).clamp(4, 60) as usize;

    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let mut label = match &r.name {
                Some(name) if !name.is_empty() => format!("{} {}", r.id, name),
                _ => r.id.clone(),
            };
            let mut matcher = match_text(r);
            let shadowed = !r.shadowed_by.is_empty();
            if shadowed {
                label = format!("⊘ {label}");
                matcher = format!("shadowed by {}", r.shadowed_by.join(","));
            }
            let t = &r.stats.throughput;
            let row = Row::new([
                Cell::from(units::clip(&label, id_w as usize)),
                Cell::from(units::clip(&matcher, match_w as usize)),
                Cell::from(units::clip(&upstream_text(r), up_w as usize)),
                Cell::from(Text::from(r.stats.active.to_string()).right_aligned()),
                Cell::from(Text::from(r.stats.total.to_string()).right_aligned()),
                Cell::from(Text::from(units::rate(t.in_rate())).right_aligned()),
                Cell::from(Text::from(units::rate(t.out_rate())).right_aligned()),
                Cell::from(units::sparkline(&t.combined(), spark_w))
                    .style(Style::new().fg(Color::Green)),
            ]);
            if shadowed {
                row.style(Style::new().fg(Color::Yellow))
            } else {
                row
            }
        })
        .collect();

    let columns = vec![
        ("ID/NAME", Constraint::Length(id_w)),
        ("MATCH", Constraint::Length(match_w)),
        ("UPSTREAM", Constraint::Length(up_w)),
        ("ACT", Constraint::Length(act_w)),
        ("TOTAL", Constraint::Length(6)),
        ("IN/s", Constraint::Length(7)),
        ("OUT/s", Constraint::Length(7)),
        ("LAST 60s", Constraint::Min(spark_w as u16)),
    ];
    let mut title = list_title("Routes", rows.len(), &app.routes, &ROUTE_SORTS);
    let shadowed = rows.iter().filter(|r| !r.shadowed_by.is_empty()).count();
    if shadowed > 0 {
        title.push_str(&format!("⊘ {shadowed} shadowed "));
    }
    render_list(frame, area, title, columns, body, &app.routes);
}
