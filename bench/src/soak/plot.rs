//! The soak plot: an SVG (written by hand, no plotting library) of the gateway's RSS, open
//! file descriptors and live connections over time, one panel each, sharing the time axis.
//! The warm-up and load phases are shaded; the RSS and fd panels draw the pass line
//! (baseline + tolerance) dashed.

use std::fmt::Write as _;

use super::probe::GatewayReading;
use super::record::Sample;

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 190.0;
const TOP: f64 = 50.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const BOTTOM: f64 = 50.0;

/// One line of a panel.
struct Line {
    label: &'static str,
    color: &'static str,
    values: Vec<f64>,
}

/// One panel: its title, lines and an optional dashed level.
struct Panel {
    title: &'static str,
    lines: Vec<Line>,
    level: Option<f64>,
}

/// The plot of `samples`; `baseline` and `tolerance` (0.05 = 5 %) draw the pass lines.
pub fn svg(
    samples: &[Sample],
    title: &str,
    baseline: Option<&GatewayReading>,
    tolerance: f64,
) -> String {
    let mib = |kb: u64| kb as f64 / 1024.0;
    let panels = [
        Panel {
            title: "gateway RSS (MiB)",
            lines: vec![Line {
                label: "RSS",
                color: "#c62828",
                values: samples.iter().map(|s| mib(s.gateway.rss_kb)).collect(),
            }],
            level: baseline.map(|b| mib(b.rss_kb) * (1.0 + tolerance)),
        },
        Panel {
            title: "gateway open file descriptors",
            lines: vec![Line {
                label: "fds",
                color: "#2e7d32",
                values: samples.iter().map(|s| s.gateway.fds as f64).collect(),
            }],
            level: baseline.map(|b| b.fds as f64 * (1.0 + tolerance)),
        },
        Panel {
            title: "connections",
            lines: vec![
                Line {
                    label: "gateway sessions (/v1/status)",
                    color: "#1565c0",
                    values: samples.iter().map(|s| s.gateway.sessions as f64).collect(),
                },
                Line {
                    label: "held by the driver",
                    color: "#ef6c00",
                    values: samples.iter().map(|s| s.client.held_open as f64).collect(),
                },
            ],
            level: None,
        },
    ];
    let times: Vec<f64> = samples.iter().map(|s| s.t_secs).collect();
    let t_max = times.iter().copied().fold(0.0, f64::max).max(1.0);
    let height = TOP + panels.len() as f64 * (PANEL_HEIGHT + GAP) - GAP + BOTTOM;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/><text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="40" fill="#555">shaded: warm-up (orange), load (blue); dashed: baseline + {:.0} % (the pass line)</text>"##,
        tolerance * 100.0
    );
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_HEIGHT + GAP) + 10.0;
        draw_panel(&mut out, panel, samples, &times, t_max, top);
    }
    let axis_y = height - 6.0;
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{axis_y}" text-anchor="middle">time (s)</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0
    );
    out.push_str("</svg>\n");
    out
}

/// One panel at `top`: phase shading, grid, lines, level, labels.
fn draw_panel(
    out: &mut String,
    panel: &Panel,
    samples: &[Sample],
    times: &[f64],
    t_max: f64,
    top: f64,
) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let highest = panel
        .lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .chain(panel.level)
        .fold(0.0, f64::max);
    let y_step = nice_ceiling(highest / 4.0);
    let y_max = y_step * (highest / y_step).ceil().max(1.0);
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let y = |v: f64| top + PANEL_HEIGHT - v / y_max * PANEL_HEIGHT;
    for (start, end, phase) in phase_spans(samples) {
        let fill = match phase {
            "warmup" => "#fff3e0",
            "ramp" | "load" => "#e3f2fd",
            _ => continue,
        };
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{PANEL_HEIGHT}" fill="{fill}"/>"#,
            x(start),
            x(end) - x(start)
        );
    }
    for v in ticks(y_max, y_step) {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            label(v)
        );
    }
    for t in ticks(t_max, nice_ceiling(t_max / 8.0)) {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t),
            top + PANEL_HEIGHT + 15.0,
            label(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w}" height="{PANEL_HEIGHT}" fill="none" stroke="#888"/><text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"##,
        top - 4.0,
        panel.title
    );
    if let Some(level) = panel.level {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="6 4"/>"##,
            LEFT + plot_w,
            y(level),
            y(level)
        );
    }
    let mut legend_x = WIDTH - RIGHT;
    for line in panel.lines.iter().rev() {
        let points: Vec<String> = times
            .iter()
            .zip(&line.values)
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.8" points="{}"/>"#,
            line.color,
            points.join(" ")
        );
        let _ = writeln!(
            out,
            r#"<text x="{legend_x:.1}" y="{:.1}" text-anchor="end" fill="{}">{}</text>"#,
            top - 4.0,
            line.color,
            line.label
        );
        legend_x -= 7.0 * line.label.len() as f64 + 20.0;
    }
}

/// Runs of one phase: (first sample's time, next run's first time, phase).
fn phase_spans(samples: &[Sample]) -> Vec<(f64, f64, &'static str)> {
    let mut spans: Vec<(f64, f64, &'static str)> = Vec::new();
    for s in samples {
        match spans.last_mut() {
            Some(last) if last.2 == s.phase => last.1 = s.t_secs,
            Some(last) => {
                last.1 = s.t_secs;
                spans.push((s.t_secs, s.t_secs, s.phase));
            }
            None => spans.push((s.t_secs, s.t_secs, s.phase)),
        }
    }
    spans
}

/// 0, `step`, 2 × `step`, ... up to `max`.
fn ticks(max: f64, step: f64) -> impl Iterator<Item = f64> {
    (0..)
        .map(move |k| f64::from(k) * step)
        .take_while(move |v| *v <= max * (1.0 + 1e-9))
}

/// The smallest of 1, 2, 5 × 10^k that is at least `v` (1 for nothing to show).
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mut step = 10f64.powf(v.log10().floor());
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= v * (1.0 - 1e-9) {
                return m * step;
            }
        }
        step *= 10.0;
    }
}

/// An axis label: whole numbers plainly, thousands as `12k`, fractions with one digit.
fn label(v: f64) -> String {
    if v >= 10_000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// `text` safe inside SVG text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::super::record::ClientReading;
    use super::*;

    fn sample(t: f64, phase: &'static str, rss_kb: u64, fds: u64, sessions: u64) -> Sample {
        Sample {
            t_secs: t,
            phase,
            gateway: GatewayReading {
                rss_kb,
                fds,
                sessions,
                ..GatewayReading::default()
            },
            client: ClientReading {
                held_open: sessions,
                ..ClientReading::default()
            },
        }
    }

    #[test]
    fn nice_ceiling_rounds_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(10.5), 20.0);
        assert_eq!(nice_ceiling(20_031.0), 50_000.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }

    #[test]
    fn ticks_step_up_to_the_maximum() {
        assert_eq!(
            ticks(100.0, 20.0).collect::<Vec<_>>(),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(ticks(125.0, 20.0).last(), Some(120.0));
    }

    #[test]
    fn the_plot_has_three_panels_and_a_point_per_sample_inside_the_picture() {
        let samples = vec![
            sample(0.0, "start", 10_240, 30, 0),
            sample(10.0, "load", 60_000, 20_030, 10_000),
            sample(20.0, "load", 61_000, 20_040, 10_010),
            sample(30.0, "after", 10_300, 30, 0),
        ];
        let base = samples[0].gateway;
        let svg = svg(&samples, "soak <test>", Some(&base), 0.05);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("soak &lt;test&gt;"));
        for title in [
            "gateway RSS (MiB)",
            "gateway open file descriptors",
            "connections",
        ] {
            assert!(svg.contains(title), "panel {title}");
        }
        let polylines: Vec<&str> = svg.lines().filter(|l| l.starts_with("<polyline")).collect();
        assert_eq!(polylines.len(), 4);
        for line in polylines {
            let points = line
                .split("points=\"")
                .nth(1)
                .expect("points")
                .trim_end_matches("\"/>");
            let pairs: Vec<(f64, f64)> = points
                .split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').expect("x,y");
                    (x.parse().expect("x"), y.parse().expect("y"))
                })
                .collect();
            assert_eq!(pairs.len(), samples.len());
            assert!(pairs
                .iter()
                .all(|(x, y)| (LEFT..=WIDTH).contains(x) && *y >= TOP && *y <= 800.0));
        }
        assert_eq!(svg.matches("stroke-dasharray").count(), 2, "two pass lines");
        assert_eq!(
            svg.matches("fill=\"#e3f2fd\"").count(),
            3,
            "the load shaded in each panel"
        );
    }
}
