//! [`TextBuffer`]: one editable text, a form field (one line) or the raw JSON (many lines),
//! over `ratatui_textarea::TextArea`. Keys the keymap leaves alone go to [`TextBuffer::input`]
//! (typing, backspace/delete anywhere, arrows, home/end, word moves, shift+movement selects,
//! ^k/^j delete to the end/head of the line); the editing actions the keymap names (undo,
//! redo, cut, copy, paste, select all, delete line) are methods here. Cut and copied text is
//! handed back to the caller, which keeps one clipboard for all buffers.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier, Style};
use ratatui_textarea::{CursorMove, TextArea};

/// One editable text with its cursor, selection and undo history.
#[derive(Debug, Clone)]
pub struct TextBuffer {
    area: TextArea<'static>,
    multiline: bool,
}

impl TextBuffer {
    /// A one-line buffer holding `text` (line breaks become spaces), cursor at the end.
    pub fn line(text: &str) -> Self {
        let mut area = TextArea::new(vec![text.replace(['\r', '\n'], " ")]);
        area.move_cursor(CursorMove::End);
        Self::styled(area, false)
    }

    /// A many-line buffer holding `text`, cursor at the top.
    pub fn lines(text: &str) -> Self {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut area = TextArea::new(lines);
        area.set_tab_length(2);
        area.set_line_number_style(Style::new().fg(Color::DarkGray));
        Self::styled(area, true)
    }

    fn styled(mut area: TextArea<'static>, multiline: bool) -> Self {
        area.set_cursor_line_style(Style::new());
        area.set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
        area.set_selection_style(Style::new().bg(Color::Blue).fg(Color::White));
        area.set_max_histories(200);
        TextBuffer { area, multiline }
    }

    /// The whole text (lines joined with `\n`).
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// `(row, column)` of the cursor, 0-based, in characters.
    pub fn cursor(&self) -> (usize, usize) {
        let c = self.area.cursor();
        (c.0, c.1)
    }

    /// The widget state, for drawing.
    pub fn area(&self) -> &TextArea<'static> {
        &self.area
    }

    /// Applies an editing or moving key; returns whether the text changed. Enter is ignored
    /// by a one-line buffer, and ctrl/alt chords the textarea would read as its own shortcuts
    /// for actions the keymap owns (paste, undo, redo, copy, cut) are ignored here.
    pub fn input(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter if !self.multiline => false,
            KeyCode::Tab | KeyCode::BackTab if !self.multiline => false,
            KeyCode::Char('y' | 'u' | 'r' | 'c' | 'x' | 'v' | 'm') if ctrl => false,
            KeyCode::Char('v' | 'c' | 'w') if alt => false,
            _ => self.area.input(key),
        }
    }

    /// Inserts `text` at the cursor (replacing a selection); a one-line buffer turns line
    /// breaks into spaces.
    pub fn insert(&mut self, text: &str) -> bool {
        let text = text.replace("\r\n", "\n");
        if self.multiline {
            self.area.insert_str(text)
        } else {
            self.area.insert_str(text.replace(['\r', '\n'], " "))
        }
    }

    /// Undoes the last edit.
    pub fn undo(&mut self) -> bool {
        self.area.undo()
    }

    /// Redoes the last undone edit.
    pub fn redo(&mut self) -> bool {
        self.area.redo()
    }

    /// Selects the whole text.
    pub fn select_all(&mut self) {
        self.area.select_all();
    }

    /// Copies the selection; returns it (`None` without a selection).
    pub fn copy(&mut self) -> Option<String> {
        self.area.selection_range()?;
        self.area.copy();
        Some(self.area.yank_text())
    }

    /// Cuts the selection; returns it (`None` without a selection).
    pub fn cut(&mut self) -> Option<String> {
        self.area.selection_range()?;
        self.area.cut();
        Some(self.area.yank_text())
    }

    /// Deletes the cursor's line (its text only, for a one-line buffer); returns it.
    pub fn delete_line(&mut self) -> Option<String> {
        let (row, _) = self.cursor();
        let line = self.area.lines().get(row)?.clone();
        self.area.cancel_selection();
        self.area.move_cursor(CursorMove::Head);
        self.area.start_selection();
        let last = row + 1 == self.area.lines().len();
        if self.multiline && !last {
            self.area.move_cursor(CursorMove::Down);
            self.area.move_cursor(CursorMove::Head);
        } else if self.multiline && row > 0 {
            // The last line goes with the line break before it.
            self.area.cancel_selection();
            self.area.move_cursor(CursorMove::Up);
            self.area.move_cursor(CursorMove::End);
            self.area.start_selection();
            self.area.move_cursor(CursorMove::Down);
            self.area.move_cursor(CursorMove::End);
        } else {
            self.area.move_cursor(CursorMove::End);
        }
        self.area.cut();
        Some(line)
    }

    /// Pastes `text` (the shared clipboard) at the cursor.
    pub fn paste(&mut self, text: &str) -> bool {
        self.insert(text)
    }

    /// Puts the cursor at `(row, column)` (clamped), without selecting.
    pub fn jump_to(&mut self, row: usize, column: usize) {
        self.area.cancel_selection();
        let row = u16::try_from(row).unwrap_or(u16::MAX);
        let column = u16::try_from(column).unwrap_or(u16::MAX);
        self.area.move_cursor(CursorMove::Jump(row, column));
    }
}

/// Buffers are equal when their texts and cursors are (the history is not compared).
impl PartialEq for TextBuffer {
    fn eq(&self, other: &Self) -> bool {
        self.multiline == other.multiline
            && self.area.lines() == other.area.lines()
            && self.cursor() == other.cursor()
    }
}

impl PartialEq<&str> for TextBuffer {
    fn eq(&self, other: &&str) -> bool {
        self.text() == *other
    }
}

#[cfg(test)]
mod tests;
