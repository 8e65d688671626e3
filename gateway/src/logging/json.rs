//! `apisix.log_format: json` for the error log: one JSON object per line, with `time` (RFC 3339
//! UTC, milliseconds), `level` (lowercase), `target`, `message`, then the event's fields with
//! their own names and types. A field named like one of the first four is written as
//! `field.<name>`.

use std::fmt;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::accesslog::format::rfc3339_millis;

/// The JSON line formatter.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

const RESERVED: [&str; 4] = ["time", "level", "target", "message"];

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or(Value::Null);
        let mut line = Map::new();
        line.insert("time".into(), rfc3339_millis(SystemTime::now()).into());
        line.insert("level".into(), level_name(meta.level()).into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), message);
        for (name, value) in fields.0 {
            let name = if RESERVED.contains(&name.as_str()) {
                format!("field.{name}")
            } else {
                name
            };
            line.insert(name, value);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// `tracing`'s level as a lowercase word.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// An event's fields as JSON values, in the order they were recorded.
#[derive(Default)]
struct FieldMap(Map<String, Value>);

impl FieldMap {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for FieldMap {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn an_event_is_one_object_with_the_fixed_keys_then_its_typed_fields() {
        let out = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "gw::test", port = 9100u64, ok = true, addr = %"127.0.0.1", level = "x", "listener \"up\"");
        });
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: Value = serde_json::from_str(text.trim_end()).expect("one json object");
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys[..4], ["time", "level", "target", "message"]);
        assert_eq!(keys.len(), 8, "{keys:?}");
        assert_eq!(line["field.level"], "x");
        assert_eq!(line["level"], "warn");
        assert_eq!(line["target"], "gw::test");
        assert_eq!(line["message"], "listener \"up\"");
        assert_eq!(line["port"], 9100);
        assert_eq!(line["ok"], true);
        assert_eq!(line["addr"], "127.0.0.1");
        let time = line["time"].as_str().expect("time");
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    }
}
