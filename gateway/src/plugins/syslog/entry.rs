//! The syslog entry of one session: APISIX's `log_format` rendering (`$var` → the stream
//! variable, other values literal, nested objects up to 5 levels, missing variables left
//! out) or this gateway's default entry, and the RFC 5424 frame around its JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::accesslog::format::{rfc3339_millis, variable};
use crate::session::SessionRecord;

/// APISIX's `MAX_LOG_FORMAT_DEPTH`: deeper objects are replaced by `{}`.
pub const MAX_FORMAT_DEPTH: usize = 5;

/// PRI of facility SYSLOG (5) and severity INFO (6): 5 × 8 + 6.
pub const PRI: u32 = 46;

/// Renders `format` for `record`, then adds `route_id` and `service_id` (APISIX's
/// `get_custom_format_log`).
pub fn custom_entry(
    format: &Map<String, Value>,
    record: &SessionRecord,
    route: &RouteIds,
) -> Value {
    let mut entry = render(format, record, 1);
    if let Value::Object(map) = &mut entry {
        if let Some(service) = &route.service_id {
            map.insert("service_id".into(), json!(service));
        }
        map.insert("route_id".into(), json!(route.route_id));
    }
    entry
}

/// The ids an entry names: the session's route and its service.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteIds {
    pub route_id: String,
    pub service_id: Option<String>,
}

fn render(format: &Map<String, Value>, record: &SessionRecord, depth: usize) -> Value {
    let mut out = Map::new();
    for (key, spec) in format {
        let value = match spec {
            Value::String(s) if s.starts_with('$') => match variable(&s[1..], record) {
                Some(v) => Value::String(v),
                None => continue,
            },
            Value::Object(_) if depth >= MAX_FORMAT_DEPTH => Value::Object(Map::new()),
            Value::Object(nested) => render(nested, record, depth + 1),
            other => other.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// The entry sent when neither the conf nor the metadata has a `log_format` (APISIX sends
/// nothing then): the session's addresses, status, byte counts and timings.
pub fn default_entry(record: &SessionRecord, route: &RouteIds) -> Value {
    let var = |name: &str| variable(name, record).map_or(Value::Null, Value::String);
    let start_ms = record
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut entry = json!({
        "route_id": route.route_id,
        "client_ip": var("remote_addr"),
        "remote_port": var("remote_port"),
        "server_addr": var("server_addr"),
        "server_port": var("server_port"),
        "protocol": var("protocol"),
        "status": record.status,
        "bytes_sent": record.bytes_out,
        "bytes_received": record.bytes_in,
        "session_time": var("session_time"),
        "upstream": var("upstream_addr"),
        "start_time": start_ms,
        "latency": record.duration.as_secs_f64() * 1000.0,
    });
    if let (Some(service), Value::Object(map)) = (&route.service_id, &mut entry) {
        map.insert("service_id".into(), json!(service));
    }
    if let Value::Object(map) = &mut entry {
        map.retain(|_, v| !v.is_null());
    }
    entry
}

/// `<46>1 <rfc3339 ms> - apisix <pid> - - <json>\n`, as `rfc5424.encode("SYSLOG", "INFO",
/// ctx.var.host, "apisix", pid, json)`.
pub fn rfc5424(entry: &Value, at: SystemTime) -> String {
    format!(
        "<{PRI}>1 {} - apisix {} - - {}\n",
        rfc3339_millis(at),
        std::process::id(),
        entry
    )
}
