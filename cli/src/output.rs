//! Printing: aligned tables for people, JSON/YAML for scripts, and a little colour for
//! status words when stdout is a terminal.

use std::fmt::Write as _;

use serde_json::Value;

use crate::args::OutputFormat;

/// A table: headers and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Renders with columns padded to their widest cell, two spaces apart.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths.get(i).copied().unwrap_or(0);
                    let _ = write!(line, "{cell:<pad$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Prints `value` as JSON (pretty) or YAML.
pub fn print_machine(value: &Value, format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Yaml => print!("{}", serde_norway::to_string(value)?),
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
    Ok(())
}

/// A scalar cell: strings bare, null/missing as `-`, others as JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `k=v,k2=v2` from a labels object.
pub fn labels_cell(value: Option<&Value>) -> String {
    match value.and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".to_owned(),
    }
}

/// Keys of an object joined by commas (`plugins`).
pub fn keys_cell(value: Option<&Value>) -> String {
    match value.and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map.keys().cloned().collect::<Vec<_>>().join(","),
        _ => "-".to_owned(),
    }
}

/// ANSI colours for status words.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Good,
    Change,
    Bad,
}

/// `text` coloured when `color` is on.
pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Change => "33",
        Tone::Bad => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Renders a JSON object as `key: value` lines (nested values as compact JSON).
pub fn key_values(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            for (k, v) in map {
                let _ = writeln!(
                    out,
                    "{:<width$}  {}",
                    format!("{k}:"),
                    cell(Some(v)),
                    width = width + 1
                );
            }
        }
        other => {
            let _ = writeln!(out, "{}", cell(Some(other)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_pads_columns_to_widest_cell() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.rows.push(vec!["1".into(), "alpha".into()]);
        t.rows.push(vec!["1234".into(), "-".into()]);
        assert_eq!(t.render(), "ID    NAME\n1     alpha\n1234  -\n");
    }

    #[test]
    fn cells_show_missing_as_dash_and_labels_as_pairs() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(9100))), "9100");
        assert_eq!(labels_cell(Some(&json!({"a":"b","c":"d"}))), "a=b,c=d");
        assert_eq!(keys_cell(Some(&json!({"limit-conn":{}}))), "limit-conn");
    }

    #[test]
    fn paint_is_plain_without_color() {
        assert_eq!(paint("created", Tone::Good, false), "created");
        assert!(paint("created", Tone::Good, true).contains("\x1b[32m"));
    }
}
