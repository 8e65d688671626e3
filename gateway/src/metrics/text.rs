//! The Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`), what APISIX's
//! export server answers (nginx-lua-prometheus) and what a scraper gets by default.
//!
//! Unlike OpenMetrics, counters keep their names: `apisix_stream_connection_total` is declared
//! under that name, and `apisix_stream_status` / `apisix_stream_bandwidth` are plain counters
//! (OpenMetrics would demand a `_total` suffix, so there they are `unknown`). There is no
//! `# EOF` line. [`negotiate`] picks this or OpenMetrics from the request's `Accept` header.

use std::fmt::Write;

use super::{Family, Kind};

/// The content type of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition formats the export server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// Prometheus text 0.0.4 (the default, APISIX's).
    Text,
    /// OpenMetrics 1.0, only when the scraper's `Accept` asks for it.
    OpenMetrics,
}

/// The format for a request with this `Accept` header: OpenMetrics when one of its media
/// ranges is `application/openmetrics-text` with a non-zero quality, text otherwise.
pub fn negotiate(accept: Option<&str>) -> Exposition {
    let asks_openmetrics = accept.into_iter().flat_map(|a| a.split(',')).any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let quality = params
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        media.eq_ignore_ascii_case("application/openmetrics-text") && quality > 0.0
    });
    if asks_openmetrics {
        Exposition::OpenMetrics
    } else {
        Exposition::Text
    }
}

/// Encodes `families` in the text format.
pub(super) fn encode(families: &[Family]) -> String {
    let mut out = String::new();
    for family in families {
        let (name, ty) = match family.kind {
            Kind::Counter => (format!("{}_total", family.name), "counter"),
            Kind::Untyped => (family.name.clone(), "counter"),
            Kind::Gauge => (family.name.clone(), "gauge"),
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(family.help));
        let _ = writeln!(out, "# TYPE {name} {ty}");
        for (labels, value) in &family.samples {
            out.push_str(&name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (key, text)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", escape_label(text));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out
}

/// HELP text: backslash and newline escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: backslash, double quote and newline escaped.
fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_accept_header_gets_the_text_format() {
        assert_eq!(negotiate(None), Exposition::Text);
        assert_eq!(negotiate(Some("*/*")), Exposition::Text);
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4")),
            Exposition::Text
        );
    }

    #[test]
    fn prometheus_asking_for_openmetrics_gets_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Exposition::OpenMetrics);
        assert_eq!(
            negotiate(Some("application/openmetrics-text; q=0")),
            Exposition::Text
        );
    }

    #[test]
    fn counters_keep_their_names_and_labels_are_escaped() {
        let families = vec![
            Family {
                name: "apisix_stream_connection".into(),
                help: "Total",
                kind: Kind::Counter,
                samples: vec![(vec![("route", "a\"b\\c\nd".into())], 2)],
            },
            Family {
                name: "apisix_stream_status".into(),
                help: "Status",
                kind: Kind::Untyped,
                samples: vec![(vec![], 3)],
            },
        ];
        assert_eq!(
            encode(&families),
            "# HELP apisix_stream_connection_total Total\n\
             # TYPE apisix_stream_connection_total counter\n\
             apisix_stream_connection_total{route=\"a\\\"b\\\\c\\nd\"} 2\n\
             # HELP apisix_stream_status Status\n\
             # TYPE apisix_stream_status counter\n\
             apisix_stream_status 3\n"
        );
    }
}
