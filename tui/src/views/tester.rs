//! The route tester: the target listener, the payload being typed, and the last result
//! (connect time, round-trip time, the reply, and which route and node took it).

use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::App;
use crate::units;

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"))
}

/// Draws the tester view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(tester) = &app.tester else { return };
    let mut lines = vec![
        Line::from(format!(
            "target   {}",
            tester
                .addr
                .clone()
                .unwrap_or_else(|| "(no listener port for this route)".into())
        )),
        Line::from(vec![
            "payload  ".into(),
            format!("{}▏", tester.payload).fg(Color::Cyan),
        ]),
        Line::from(""),
    ];
    if tester.running {
        lines.push(Line::styled("running…", Style::new().fg(Color::Yellow)));
    }
    if let Some(o) = &tester.outcome {
        let verdict = match &o.error {
            None => Line::styled("PASS", Style::new().fg(Color::Green).bold()),
            Some(e) => Line::styled(format!("FAIL: {e}"), Style::new().fg(Color::Red).bold()),
        };
        lines.push(verdict);
        lines.push(Line::from(format!("connect  {}", ms(o.connect_ms))));
        lines.push(Line::from(format!("rtt      {}", ms(o.rtt_ms))));
        lines.push(Line::from(format!(
            "route    {}",
            o.routed_to.clone().unwrap_or_else(|| "-".into())
        )));
        lines.push(Line::from(format!(
            "node     {}",
            o.upstream.clone().unwrap_or_else(|| "-".into())
        )));
        let reply = o.reply.as_deref().map_or("-".to_owned(), |r| {
            units::clip(&r.replace(['\r', '\n'], "⏎"), 200)
        });
        lines.push(Line::from(format!("reply    {reply}")));
    }
    let title = format!(" Test stream_route {} ", tester.route_id);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(title))
            .wrap(Wrap { trim: false }),
        area,
    );
}
