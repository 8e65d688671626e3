//! `access_log_format` templates: nginx `$variable` / `${variable}` syntax over a
//! [`SessionRecord`], with nginx's `default` escaping (`\xHH` for `"`, `\`, control and
//! non-ASCII bytes) or `json` escaping (missing values become empty strings instead of `-`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::conn::Transport;
use crate::session::SessionRecord;
use crate::var_template::{compile, Piece};

/// How variable values are escaped (`access_log_format_escape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// nginx `escape=default`.
    Default,
    /// nginx `escape=json`.
    Json,
}

impl Escape {
    /// `json` → [`Escape::Json`], anything else → [`Escape::Default`].
    pub fn parse(name: &str) -> Self {
        if name.eq_ignore_ascii_case("json") {
            Escape::Json
        } else {
            Escape::Default
        }
    }
}

/// A variable the template can use, by its nginx name (`remote_addr`, `time_iso8601`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
enum Var {
    RemoteAddr,
    RemotePort,
    ServerAddr,
    ServerPort,
    Protocol,
    Status,
    BytesSent,
    BytesReceived,
    SessionTime,
    UpstreamAddr,
    RouteId,
    TimeLocal,
    TimeIso8601,
    /// Not known here: always missing.
    #[strum(disabled)]
    Unknown,
}

impl Var {
    fn of(name: &str) -> Var {
        name.parse().unwrap_or(Var::Unknown)
    }

    /// The variable's name (`None` for [`Var::Unknown`]).
    fn name(self) -> Option<&'static str> {
        (self != Var::Unknown).then(|| self.into())
    }

    /// Whether the JSON access log writes the value as a number.
    fn is_number(self) -> bool {
        matches!(
            self,
            Var::RemotePort
                | Var::ServerPort
                | Var::Status
                | Var::BytesSent
                | Var::BytesReceived
                | Var::SessionTime
        )
    }
}

type Part = Piece<Var>;

/// A compiled `access_log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    parts: Vec<Part>,
    escape: Escape,
    /// `apisix.log_format: json`: a JSON object of the template's variables instead of the text.
    json_object: bool,
}

impl LogFormat {
    /// Compiles `template`; unknown variables render as missing values. Returns the names of
    /// the unknown variables too, for a warning.
    pub fn parse(template: &str, escape: Escape) -> (LogFormat, Vec<String>) {
        let mut unknown = Vec::new();
        let parts = compile(template, "${}", |name| {
            let var = Var::of(name);
            if var == Var::Unknown {
                unknown.push(name.to_owned());
            }
            var
        });
        (
            LogFormat {
                parts,
                escape,
                json_object: false,
            },
            unknown,
        )
    }

    /// Lines become JSON objects (`apisix.log_format: json`): `time` (RFC 3339 UTC with
    /// milliseconds, when the session ended), then one key per variable of the template, named
    /// after it, in template order; numbers for ports, `status`, byte counts and
    /// `session_time` (seconds), `null` when missing. Literal text and unknown variables are
    /// left out.
    pub fn json_objects(mut self) -> Self {
        self.json_object = true;
        self
    }

    /// One log line for `record`, without the newline.
    pub fn render(&self, record: &SessionRecord) -> String {
        if self.json_object {
            return self.render_object(record);
        }
        let mut out = String::with_capacity(128);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => match value(*var, record) {
                    Some(value) => escape_into(&mut out, &value, self.escape),
                    None if self.escape == Escape::Json => {}
                    None => out.push('-'),
                },
            }
        }
        out
    }
}

impl LogFormat {
    fn render_object(&self, record: &SessionRecord) -> String {
        let mut object = serde_json::Map::new();
        let ended = record.started_at + record.duration;
        object.insert("time".into(), rfc3339_millis(ended).into());
        for part in &self.parts {
            let Part::Var(var) = part else { continue };
            let Some(name) = var.name() else { continue };
            let value = match value(*var, record) {
                None => serde_json::Value::Null,
                Some(text) if var.is_number() => serde_json::from_str(&text)
                    .ok()
                    .filter(serde_json::Value::is_number)
                    .unwrap_or(serde_json::Value::String(text)),
                Some(text) => text.into(),
            };
            object.insert(name.into(), value);
        }
        serde_json::Value::Object(object).to_string()
    }
}

fn value(var: Var, r: &SessionRecord) -> Option<String> {
    Some(match var {
        Var::RemoteAddr => r.client.ip().to_string(),
        Var::RemotePort => r.client.port().to_string(),
        Var::ServerAddr => r.server.ip().to_string(),
        Var::ServerPort => r.server.port().to_string(),
        Var::Protocol => match r.transport {
            Transport::Tcp => "TCP".to_owned(),
            Transport::Udp => "UDP".to_owned(),
        },
        Var::Status => r.status.to_string(),
        Var::BytesSent => r.bytes_out.to_string(),
        Var::BytesReceived => r.bytes_in.to_string(),
        Var::SessionTime => {
            let ms = r.duration.as_millis();
            format!("{}.{:03}", ms / 1000, ms % 1000)
        }
        Var::UpstreamAddr => r.node?.to_string(),
        Var::RouteId => r.route_id.clone()?,
        Var::TimeLocal => time_local(r.started_at + r.duration),
        Var::TimeIso8601 => time_iso8601(r.started_at + r.duration),
        Var::Unknown => return None,
    })
}

/// The value of nginx variable `name` (without `$`) for `record`; `None` when it is unknown
/// or missing (no route, no node). Used by the syslog plugin's `log_format`.
pub fn variable(name: &str, record: &SessionRecord) -> Option<String> {
    value(Var::of(name), record)
}

/// RFC 3339 UTC with milliseconds, as APISIX's syslog header: `2026-11-28T05:57:12.345Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let millis = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

fn escape_into(out: &mut String, value: &str, escape: Escape) {
    for c in value.chars() {
        match escape {
            Escape::Default => {
                if c == '"' || c == '\\' || (c as u32) < 0x20 || (c as u32) >= 0x7f {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02X}"));
                    }
                } else {
                    out.push(c);
                }
            }
            Escape::Json => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            },
        }
    }
}

/// Civil date (UTC) of `t`: (year, month 1-12, day, hour, minute, second).
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// nginx `$time_local` (the gateway logs in UTC): `28/Nov/2026:05:57:12 +0000`.
pub fn time_local(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(t);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{d:02}/{month}/{y}:{h:02}:{mi:02}:{s:02} +0000")
}

/// nginx `$time_iso8601` in UTC: `2026-11-28T05:57:12+00:00`.
pub fn time_iso8601(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn variables_are_known_by_their_nginx_names() {
        let names = [
            "remote_addr",
            "remote_port",
            "server_addr",
            "server_port",
            "protocol",
            "status",
            "bytes_sent",
            "bytes_received",
            "session_time",
            "upstream_addr",
            "route_id",
            "time_local",
            "time_iso8601",
        ];
        for name in names {
            let var = Var::of(name);
            assert_ne!(var, Var::Unknown, "{name}");
            assert_eq!(var.name(), Some(name));
        }
        assert_eq!(Var::of("request_time"), Var::Unknown);
        assert_eq!(Var::of("Unknown"), Var::Unknown);
        assert_eq!(Var::Unknown.name(), None);
    }

    /// A finished TCP session of route `r"1` (the quote tests escaping).
    pub(in crate::accesslog) fn record() -> SessionRecord {
        SessionRecord {
            route_id: Some("r\"1".into()),
            listener: "0.0.0.0:9100".parse().expect("addr"),
            server: "127.0.0.2:9100".parse().expect("addr"),
            client: "127.0.0.1:5000".parse().expect("addr"),
            node: None,
            status: 200,
            bytes_in: 3,
            bytes_out: 7,
            started_at: UNIX_EPOCH + Duration::from_secs(1_764_309_432),
            duration: Duration::from_millis(1500),
            transport: Transport::Tcp,
            route_label: None,
            routed: true,
            rejection: None,
            upstream: None,
            route_stats: None,
        }
    }

    #[test]
    fn default_format_renders_nginx_fields() {
        let (format, unknown) = LogFormat::parse(
            "$remote_addr:$remote_port [$time_local] $protocol $status $bytes_sent $bytes_received $session_time $upstream_addr $route_id ${server_port}x $nope $",
            Escape::Default,
        );
        assert_eq!(unknown, vec!["nope".to_owned()]);
        assert_eq!(
            format.render(&record()),
            "127.0.0.1:5000 [28/Nov/2025:05:57:13 +0000] TCP 200 7 3 1.500 - r\\x221 9100x - $"
        );
    }

    #[test]
    fn server_addr_is_the_address_the_client_reached_not_the_wildcard() {
        let (format, _) = LogFormat::parse("$server_addr:$server_port", Escape::Default);
        assert_eq!(format.render(&record()), "127.0.0.2:9100");
    }

    #[test]
    fn json_lines_hold_the_template_variables_typed_and_named() {
        let (format, _) = LogFormat::parse(
            "$remote_addr:$remote_port [$time_local] $protocol $status $bytes_sent $session_time $upstream_addr $route_id $nope",
            Escape::Default,
        );
        let line = format.json_objects().render(&record());
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(
            parsed,
            serde_json::json!({
                "time": "2025-11-28T05:57:13.500Z",
                "remote_addr": "127.0.0.1",
                "remote_port": 5000,
                "time_local": "28/Nov/2025:05:57:13 +0000",
                "protocol": "TCP",
                "status": 200,
                "bytes_sent": 7,
                "session_time": 1.5,
                "upstream_addr": null,
                "route_id": "r\"1",
            })
        );
        let keys: Vec<&str> = parsed
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys[..3], ["time", "remote_addr", "remote_port"]);
    }

    #[test]
    fn json_escape_leaves_missing_values_empty() {
        let (format, _) = LogFormat::parse(
            r#"{"route":"$route_id","up":"$upstream_addr","t":"$time_iso8601"}"#,
            Escape::Json,
        );
        let line = format.render(&record());
        assert_eq!(
            line,
            r#"{"route":"r\"1","up":"","t":"2025-11-28T05:57:13+00:00"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(parsed["route"], "r\"1");
    }
}
