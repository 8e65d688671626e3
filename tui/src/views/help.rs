//! The help overlay: every binding of the keymap (write actions left out under
//! `--readonly`), so the help page cannot drift from what the keys do. When the rows do not
//! fit the height, they are split into two columns without the "where" column.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Clear, Row, Table};
use ratatui::Frame;

use super::centered;
use super::header_style;
use crate::app::App;
use crate::keymap;

/// Draws the help overlay over `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = keymap::help_rows(app.config.readonly);
    let title = " Help (^ = ctrl) — any key closes ";
    if rows.len() as u16 + 3 <= area.height {
        let popup = centered(area, 80, rows.len() as u16 + 3);
        frame.render_widget(Clear, popup);
        let body: Vec<Row> = rows
            .into_iter()
            .map(|(keys, help, scope)| Row::new(vec![keys.to_owned(), help.to_owned(), scope]))
            .collect();
        let widths = [
            Constraint::Length(8),
            Constraint::Length(30),
            Constraint::Min(10),
        ];
        let table = Table::new(body, widths)
            .header(Row::new(["KEY", "ACTION", "WHERE"]).style(header_style()))
            .block(Block::bordered().title(title));
        frame.render_widget(table, popup);
        return;
    }
    let half = rows.len().div_ceil(2);
    let popup = centered(area, 80, half as u16 + 3);
    frame.render_widget(Clear, popup);
    let block = Block::bordered().title(title);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let columns: [Rect; 2] =
        Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).areas(inner);
    for (chunk, column) in rows.chunks(half).zip(columns) {
        let body: Vec<Row> = chunk
            .iter()
            .map(|(keys, help, _)| Row::new(vec![(*keys).to_owned(), (*help).to_owned()]))
            .collect();
        let widths = [Constraint::Length(8), Constraint::Min(10)];
        let table =
            Table::new(body, widths).header(Row::new(["KEY", "ACTION"]).style(header_style()));
        frame.render_widget(table, column);
    }
}
