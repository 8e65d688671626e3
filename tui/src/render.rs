//! `render(frame, &App)`: the frame layout (header, body, status line, key footer) and the
//! overlays (help, confirmation). Each view draws its own body (see [`crate::views`]).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Link, Mode, View};
use crate::keymap;
use crate::views;

/// Draws the whole dashboard.
pub fn render(frame: &mut Frame, app: &App) {
    let [header, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(app), header);
    match &app.view {
        View::Routes => views::routes::render(frame, body, app),
        View::RouteDetail { route_id } => views::route_detail::render(frame, body, app, route_id),
        View::Upstreams => views::upstreams::render(frame, body, app),
        View::Connections => views::connections::render(frame, body, app),
        View::Editor => views::editor::render(frame, body, app),
        View::Tester => views::tester::render(frame, body, app),
    }
    frame.render_widget(status_line(app), status);
    frame.render_widget(key_line(app, keys.width), keys);
    match &app.mode {
        Mode::Help => views::help::render(frame, body, app),
        Mode::Confirm(pending) => confirm(frame, body, &pending.question()),
        _ => {}
    }
}

fn header_line(app: &App) -> Paragraph<'static> {
    let s = &app.snapshot.status;
    let mut spans = vec![
        Span::styled(" apisix-tui ", Style::new().bold().reversed()),
        Span::raw(format!(" {} ", app.view_kind().title())),
        Span::raw("│ "),
    ];
    match &app.link {
        Link::Connecting => spans.push(Span::styled("connecting…", Style::new().fg(Color::Yellow))),
        Link::Connected => {
            spans.push(Span::styled("● connected", Style::new().fg(Color::Green)));
            spans.push(Span::raw(format!(
                " │ v{} {} rev {}",
                s.version, s.role, s.config_revision
            )));
        }
        Link::Disconnected { .. } => spans.push(Span::styled(
            "✖ disconnected — retrying",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
    }
    if !s.store_reachable && app.link == Link::Connected {
        spans.push(Span::styled(
            " │ store unreachable",
            Style::new().fg(Color::Red),
        ));
    }
    if app.frozen {
        spans.push(Span::styled(
            " │ FROZEN",
            Style::new().fg(Color::Cyan).bold(),
        ));
    }
    if let Some(label) = &app.config.tls_label {
        spans.push(Span::styled(
            format!(" │ {label}"),
            Style::new().fg(Color::Green),
        ));
    }
    if app.config.readonly {
        spans.push(Span::styled(
            " │ read-only",
            Style::new().fg(Color::Magenta),
        ));
    }
    spans.push(Span::raw(format!(" │ {}ms", app.config.refresh_ms)));
    Paragraph::new(Line::from(spans))
}

fn status_line(app: &App) -> Paragraph<'static> {
    let line = match &app.mode {
        Mode::Filter { input } => Line::from(vec![
            Span::raw("/"),
            Span::raw(input.clone()),
            Span::raw("▏"),
        ]),
        Mode::Command { input } => Line::from(vec![
            Span::raw(":"),
            Span::raw(input.clone()),
            Span::raw("▏"),
        ]),
        _ => match (&app.notice, &app.link, &app.snapshot.admin_error) {
            (Some(n), _, _) => Line::styled(
                n.text.clone(),
                Style::new().fg(if n.error { Color::Red } else { Color::Green }),
            ),
            (None, Link::Disconnected { error }, _) => {
                Line::styled(error.clone(), Style::new().fg(Color::Red))
            }
            (None, _, Some(admin)) => Line::styled(admin.clone(), Style::new().fg(Color::Yellow)),
            _ => Line::raw(""),
        },
    };
    Paragraph::new(line)
}

fn key_line(app: &App, width: u16) -> Paragraph<'static> {
    let hints: Vec<(&str, &str)> = match &app.mode {
        Mode::Filter { .. } => vec![("enter", "apply"), ("esc", "clear")],
        Mode::Command { .. } => vec![("enter", "run"), ("esc", "cancel")],
        Mode::Confirm(_) => vec![("y", "yes"), ("n/esc", "no")],
        Mode::Help => vec![("any key", "close")],
        Mode::Normal => keymap::footer(app.view_kind(), app.config.readonly),
    };
    // `?` is always shown (last); the others while they fit.
    let (help, rest): (Vec<_>, Vec<_>) = hints.into_iter().partition(|(k, _)| *k == "?");
    let cost = |(k, l): &(&str, &str)| k.chars().count() + l.chars().count() + 2;
    let mut budget = (width as usize).saturating_sub(help.iter().map(cost).sum());
    let mut shown = Vec::new();
    for hint in rest {
        if cost(&hint) > budget {
            break;
        }
        budget -= cost(&hint);
        shown.push(hint);
    }
    shown.extend(help);
    let mut spans = Vec::new();
    for (keys, label) in shown {
        spans.push(Span::styled(
            format!(" {keys}"),
            Style::new().bold().fg(Color::Cyan),
        ));
        spans.push(Span::raw(format!(" {label}")));
    }
    Paragraph::new(Line::from(spans))
}

fn confirm(frame: &mut Frame, area: Rect, question: &str) {
    let width = (question.chars().count() as u16 + 6).max(30);
    let popup = views::centered(area, width, 5);
    frame.render_widget(Clear, popup);
    let text = vec![
        Line::from(question.to_owned()).bold(),
        Line::from(""),
        Line::from("y: yes   n/esc: no"),
    ];
    let block = Block::bordered()
        .title(" confirm ")
        .border_style(Style::new().fg(Color::Red));
    frame.render_widget(
        Paragraph::new(text)
            .block(block)
            .centered()
            .wrap(Wrap { trim: true }),
        popup,
    );
}
