//! The route editor: the form (one line per field, the focused one marked, a local error
//! under its field) or the raw JSON buffer, and the server's validation error inline.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::editor::{EditorState, FIELDS};

const HINTS: [&str; 8] = [
    "route id (the PUT path)",
    "optional",
    "client IP or CIDR",
    "local IP the client reached",
    "local port the client reached",
    "TLS server name",
    "stored upstream id, or use nodes",
    "host:port=weight,... (weight 1 by default)",
];

/// Draws the editor view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(editor) = &app.editor else { return };
    let title = match (&editor.editing, editor.raw.is_some()) {
        (Some(id), false) => format!(" Edit stream_route {id} "),
        (Some(id), true) => format!(" Edit stream_route {id} (raw JSON) "),
        (None, false) => " New stream_route ".to_owned(),
        (None, true) => " New stream_route (raw JSON) ".to_owned(),
    };
    let error_height = if editor.error.is_some() { 4 } else { 0 };
    let [main, error] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(error_height)]).areas(area);
    let block = Block::bordered().title(title);
    match &editor.raw {
        Some(raw) => {
            let mut text = raw.clone();
            text.push('▏');
            frame.render_widget(Paragraph::new(text).block(block), main);
        }
        None => frame.render_widget(Paragraph::new(form_lines(editor)).block(block), main),
    }
    if let Some(e) = &editor.error {
        let heading = if editor.saving {
            " error "
        } else {
            " not saved "
        };
        let widget = Paragraph::new(e.message.clone())
            .style(Style::new().fg(Color::Red))
            .wrap(Wrap { trim: true })
            .block(
                Block::bordered()
                    .title(heading)
                    .border_style(Style::new().fg(Color::Red)),
            );
        frame.render_widget(widget, error);
    }
}

fn form_lines(editor: &EditorState) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (i, name) in FIELDS.iter().enumerate() {
        let focused = i == editor.focus;
        let marker = if focused { "▶ " } else { "  " };
        let mut value = editor.fields[i].clone();
        if focused {
            value.push('▏');
        }
        let mut spans = vec![
            Span::raw(marker),
            Span::styled(format!("{name:<12}"), Style::new().bold()),
            Span::styled(
                value,
                if focused {
                    Style::new().fg(Color::Cyan)
                } else {
                    Style::new()
                },
            ),
        ];
        if editor.fields[i].is_empty() && !focused {
            spans.push(Span::styled(HINTS[i], Style::new().fg(Color::DarkGray)));
        }
        lines.push(Line::from(spans));
        if let Some(err) = editor.error.as_ref().filter(|e| e.field == Some(i)) {
            lines.push(Line::styled(
                format!("    ↳ {}", err.message),
                Style::new().fg(Color::Red),
            ));
        }
    }
    if editor.saving {
        lines.push(Line::from(""));
        lines.push(Line::styled("  saving…", Style::new().fg(Color::Yellow)));
    }
    lines
}
