//! The route editor: the form (one line per field, the focused one with its cursor and
//! selection, the live problem in red under the field it belongs to) or the raw JSON (a text
//! area with line numbers; the line at fault marked `✗` and red, the problem right under the
//! text with its line and JSON path), and the last save's failure in a box at the bottom.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::editor::{EditorError, EditorState, TextBuffer, FIELDS};

/// Width of the label column of the form.
const LABEL: u16 = 16;

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
    let inner = block.inner(main);
    frame.render_widget(block, main);
    match &editor.raw {
        Some(raw) => render_raw(frame, inner, raw, editor.problem.as_ref()),
        None => render_form(frame, inner, editor),
    }
    if let Some(e) = &editor.error {
        let widget = Paragraph::new(e.located())
            .style(Style::new().fg(Color::Red))
            .wrap(Wrap { trim: true })
            .block(
                Block::bordered()
                    .title(" not saved ")
                    .border_style(Style::new().fg(Color::Red)),
            );
        frame.render_widget(widget, error);
    }
}

fn problem_line_text(problem: &EditorError) -> String {
    format!("  ✗ {}", problem.located())
}

fn problem_line(problem: &EditorError) -> Line<'static> {
    Line::styled(problem_line_text(problem), Style::new().fg(Color::Red))
}

fn render_raw(frame: &mut Frame, area: Rect, raw: &TextBuffer, problem: Option<&EditorError>) {
    let width = usize::from(area.width.max(1));
    let below = problem.map_or(0, |p| {
        problem_line_text(p).chars().count().div_ceil(width).min(3)
    });
    let below = u16::try_from(below).unwrap_or(3);
    // The text takes what it needs, so a problem sits right under a short JSON body.
    let needed = u16::try_from(raw.area().lines().len() + 1).unwrap_or(u16::MAX);
    let text_height = needed.min(area.height.saturating_sub(below)).max(1);
    let [text, rest] =
        Layout::vertical([Constraint::Length(text_height), Constraint::Min(0)]).areas(area);
    frame.render_widget(raw.area(), text);
    let Some(p) = problem else { return };
    if let Some(line) = p.line {
        mark_line(frame, text, raw, line);
    }
    let widget = Paragraph::new(problem_line(p)).wrap(Wrap { trim: false });
    frame.render_widget(widget, rest);
}

/// Marks the raw JSON's `line` where it is on screen: `✗` in the line-number gutter and the
/// text in red.
fn mark_line(frame: &mut Frame, text: Rect, raw: &TextBuffer, line: usize) {
    let (top, _) = raw.area().scroll_offset();
    let Some(row) = line
        .checked_sub(usize::from(top))
        .and_then(|r| u16::try_from(r).ok())
        .filter(|r| *r < text.height)
    else {
        return;
    };
    let y = text.y + row;
    let buf = frame.buffer_mut();
    if let Some(cell) = buf.cell_mut((text.x, y)) {
        cell.set_symbol("✗").set_fg(Color::Red);
    }
    let gutter = raw.area().line_number_width();
    for x in text.x + gutter..text.right() {
        if let Some(cell) = buf.cell_mut((x, y)) {
            cell.set_fg(Color::Red);
        }
    }
}

/// The problem shown under field `i` (the live one first), as its text.
fn field_problem(editor: &EditorState, i: usize) -> Option<String> {
    let live = editor.problem.as_ref().filter(|p| p.field == Some(i));
    let saved = editor.error.as_ref().filter(|e| e.field == Some(i));
    live.or(saved).map(|p| format!("    ↳ {}", p.located()))
}

/// Where field `i` goes: its row, and how many lines its problem takes under it (wrapped to
/// `width`, at most 3).
fn form_rows(editor: &EditorState, width: u16) -> Vec<(usize, usize)> {
    let width = usize::from(width.max(1));
    let mut row = 0;
    (0..FIELDS.len())
        .map(|i| {
            let under =
                field_problem(editor, i).map_or(0, |p| p.chars().count().div_ceil(width).min(3));
            let at = row;
            row += 1 + under;
            (at, under)
        })
        .collect()
}

fn render_form(frame: &mut Frame, area: Rect, editor: &EditorState) {
    let rows = form_rows(editor, area.width);
    for (i, field) in FIELDS.iter().enumerate() {
        let (row, under) = rows[i];
        let Some(y) = u16::try_from(row).ok().filter(|r| *r < area.height) else {
            break;
        };
        let line = Rect::new(area.x, area.y + y, area.width, 1);
        let [label, value] =
            Layout::horizontal([Constraint::Length(LABEL + 2), Constraint::Min(1)]).areas(line);
        let focused = i == editor.focus;
        let marker = if focused { "▶ " } else { "  " };
        let name = format!("{:<width$}", field.label, width = usize::from(LABEL));
        frame.render_widget(
            Line::from(vec![
                Span::raw(marker),
                Span::styled(name, Style::new().bold()),
            ]),
            label,
        );
        let text = &editor.fields[i];
        if focused {
            frame.render_widget(text.area(), value);
        } else if text.text().is_empty() {
            frame.render_widget(
                Span::styled(field.hint, Style::new().fg(Color::DarkGray)),
                value,
            );
        } else {
            frame.render_widget(Span::raw(text.text()), value);
        }
        let lines = u16::try_from(under).unwrap_or(0).min(area.height - y - 1);
        if let (Some(problem), true) = (field_problem(editor, i), lines > 0) {
            let below = Rect::new(area.x, area.y + y + 1, area.width, lines);
            let text = Paragraph::new(problem)
                .style(Style::new().fg(Color::Red))
                .wrap(Wrap { trim: false });
            frame.render_widget(text, below);
        }
    }
    let used = rows.last().map_or(0, |(r, u)| r + 1 + u);
    let mut tail = Vec::new();
    if let Some(p) = editor.problem.as_ref().filter(|p| p.field.is_none()) {
        tail.push(problem_line(p));
    }
    if editor.saving {
        tail.push(Line::styled("  saving…", Style::new().fg(Color::Yellow)));
    }
    let start = u16::try_from(used + 1).unwrap_or(u16::MAX);
    if !tail.is_empty() && start < area.height {
        let rest = Rect::new(area.x, area.y + start, area.width, area.height - start);
        frame.render_widget(Paragraph::new(tail).wrap(Wrap { trim: false }), rest);
    }
}
