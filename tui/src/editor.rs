//! The route editor's state: a form of the common stream-route fields or a raw JSON
//! buffer, and the conversion to the Admin API body. Fields it has no form for (plugins,
//! labels, ...) are kept from the stored value.

use serde_json::{Map, Value};

/// The form fields, in display order.
pub const FIELDS: [&str; 8] = [
    "id",
    "name",
    "remote_addr",
    "server_addr",
    "server_port",
    "sni",
    "upstream_id",
    "nodes",
];

/// Index of `nodes` in [`FIELDS`].
const NODES: usize = 7;
/// Index of `server_port` in [`FIELDS`].
const PORT: usize = 4;

/// A problem with the input, before or after the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorError {
    /// The form field at fault, when known.
    pub field: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Editor state.
#[derive(Debug, Clone, PartialEq)]
pub struct EditorState {
    /// The id being edited; `None` for a new route.
    pub editing: Option<String>,
    /// The stored value the form edits (empty object for a new route).
    pub base: Value,
    /// Field texts, as in [`FIELDS`].
    pub fields: Vec<String>,
    /// Focused field.
    pub focus: usize,
    /// The raw JSON buffer when in raw mode.
    pub raw: Option<String>,
    /// The last error (local check or the server's `error_msg`).
    pub error: Option<EditorError>,
    /// A save is in flight.
    pub saving: bool,
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn nodes_text(value: &Value) -> String {
    let nodes = value
        .get("upstream")
        .and_then(|u| u.get("nodes"))
        .cloned()
        .and_then(|n| serde_json::from_value::<model::types::Nodes>(n).ok());
    nodes
        .map(|n| {
            n.to_list()
                .iter()
                .map(|node| match node.port {
                    Some(port) => format!("{}:{port}={}", node.host, node.weight),
                    None => format!("{}={}", node.host, node.weight),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Parses `host:port=weight,...` (weight defaults to 1) into APISIX's hash form.
pub fn parse_nodes(input: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (addr, weight) = match part.split_once('=') {
            Some((a, w)) => {
                let w: u32 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("node {part}: weight must be a non-negative integer"))?;
                (a.trim(), w)
            }
            None => (part, 1),
        };
        let (host, port) = model::types::split_host_port(addr);
        if host.is_empty() || port.is_none() {
            return Err(format!("node {part}: expected host:port[=weight]"));
        }
        out.insert(addr.to_owned(), Value::from(weight));
    }
    Ok(out)
}

impl EditorState {
    /// A blank form for a new route.
    pub fn new_route() -> Self {
        Self {
            editing: None,
            base: Value::Object(Map::new()),
            fields: vec![String::new(); FIELDS.len()],
            focus: 0,
            raw: None,
            error: None,
            saving: false,
        }
    }

    /// A form filled from a stored route.
    pub fn edit(id: &str, value: &Value) -> Self {
        let mut fields: Vec<String> = FIELDS.iter().map(|f| text(value, f)).collect();
        fields[0] = id.to_owned();
        fields[NODES] = nodes_text(value);
        Self {
            editing: Some(id.to_owned()),
            base: value.clone(),
            fields,
            focus: 1,
            raw: None,
            error: None,
            saving: false,
        }
    }

    /// Types a character into the focused field or the raw buffer.
    pub fn insert(&mut self, c: char) {
        match &mut self.raw {
            Some(raw) => raw.push(c),
            None => self.fields[self.focus].push(c),
        }
    }

    /// Deletes the last character of the focused field or the raw buffer.
    pub fn backspace(&mut self) {
        match &mut self.raw {
            Some(raw) => drop(raw.pop()),
            None => drop(self.fields[self.focus].pop()),
        }
    }

    /// Moves the focus by `delta` fields, wrapping.
    pub fn move_focus(&mut self, delta: isize) {
        let n = FIELDS.len() as isize;
        self.focus = ((self.focus as isize + delta).rem_euclid(n)) as usize;
    }

    /// Switches between form and raw JSON; stays put (with an error) when the other side
    /// cannot be built.
    pub fn toggle_raw(&mut self) {
        match self.raw.take() {
            None => match self.form_body() {
                Ok((_, body)) => {
                    let pretty = serde_json::to_string_pretty(&body)
                        .expect("a serde_json value always serializes");
                    self.raw = Some(pretty);
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            },
            Some(raw) => match serde_json::from_str::<Value>(&raw) {
                Ok(value) if value.is_object() => {
                    let id = self.fields[0].clone();
                    let mut next = Self::edit(&id, &value);
                    next.editing = self.editing.take();
                    *self = next;
                }
                Ok(_) => self.keep_raw(raw, "raw json: the body must be an object".into()),
                Err(e) => self.keep_raw(raw, format!("raw json: {e}")),
            },
        }
    }

    fn keep_raw(&mut self, raw: String, message: String) {
        self.raw = Some(raw);
        self.error = Some(EditorError {
            field: None,
            message,
        });
    }

    /// The id and body to PUT, or the first problem found.
    pub fn body(&self) -> Result<(String, Value), EditorError> {
        match &self.raw {
            None => self.form_body(),
            Some(raw) => {
                let value: Value = serde_json::from_str(raw).map_err(|e| EditorError {
                    field: None,
                    message: format!("raw json: {e}"),
                })?;
                let id = self.fields[0].trim().to_owned();
                if id.is_empty() {
                    return Err(EditorError {
                        field: Some(0),
                        message: "id is required".into(),
                    });
                }
                Ok((id, value))
            }
        }
    }

    fn form_body(&self) -> Result<(String, Value), EditorError> {
        let err = |field: usize, message: String| EditorError {
            field: Some(field),
            message,
        };
        let id = self.fields[0].trim().to_owned();
        if id.is_empty() {
            return Err(err(0, "id is required".into()));
        }
        let mut body = match &self.base {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        for key in ["id", "create_time", "update_time"] {
            body.shift_remove(key);
        }
        for (i, key) in FIELDS.iter().enumerate().skip(1).take(PORT - 1) {
            set_text(&mut body, key, &self.fields[i]);
        }
        let port = self.fields[PORT].trim();
        if port.is_empty() {
            body.shift_remove("server_port");
        } else {
            let port: u16 = port
                .parse()
                .map_err(|_| err(PORT, format!("server_port: {port} is not a port number")))?;
            body.insert("server_port".into(), Value::from(port));
        }
        set_text(&mut body, "sni", &self.fields[5]);
        let upstream_id = self.fields[6].trim();
        let nodes = parse_nodes(&self.fields[NODES]).map_err(|m| err(NODES, m))?;
        if !upstream_id.is_empty() && !nodes.is_empty() {
            return Err(err(NODES, "set upstream_id or nodes, not both".into()));
        }
        set_text(&mut body, "upstream_id", upstream_id);
        if nodes.is_empty() {
            body.shift_remove("upstream");
        } else {
            let slot = body
                .entry("upstream")
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(upstream) = slot {
                upstream
                    .entry("type")
                    .or_insert_with(|| Value::from("roundrobin"));
                upstream.insert("nodes".into(), Value::Object(nodes));
            }
        }
        Ok((id, Value::Object(body)))
    }
}

fn set_text(body: &mut Map<String, Value>, key: &str, value: &str) {
    let value = value.trim();
    if value.is_empty() {
        body.shift_remove(key);
    } else {
        body.insert(key.into(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_route_form_builds_an_apisix_body() {
        let mut ed = EditorState::new_route();
        ed.fields[0] = "7".into();
        ed.fields[4] = "9100".into();
        ed.fields[NODES] = "127.0.0.1:3306=2, 127.0.0.2:3306".into();
        let (id, body) = ed.body().expect("valid form");
        assert_eq!(id, "7");
        assert_eq!(
            body,
            json!({"server_port": 9100, "upstream": {"type": "roundrobin",
                "nodes": {"127.0.0.1:3306": 2, "127.0.0.2:3306": 1}}})
        );
    }

    #[test]
    fn editing_keeps_unknown_fields_and_drops_timestamps() {
        let stored = json!({"id": "1", "server_port": 9100, "plugins": {"limit-conn": {}},
            "upstream_id": "2", "create_time": 1, "update_time": 2});
        let ed = EditorState::edit("1", &stored);
        assert_eq!(ed.fields[6], "2");
        let (_, body) = ed.body().expect("valid form");
        assert_eq!(
            body,
            json!({"server_port": 9100, "plugins": {"limit-conn": {}}, "upstream_id": "2"})
        );
    }

    #[test]
    fn bad_port_and_bad_node_point_at_their_fields() {
        let mut ed = EditorState::new_route();
        ed.fields[0] = "1".into();
        ed.fields[PORT] = "http".into();
        assert_eq!(ed.body().map_err(|e| e.field), Err(Some(PORT)));
        ed.fields[PORT] = "80".into();
        ed.fields[NODES] = "nohost".into();
        assert_eq!(ed.body().map_err(|e| e.field), Err(Some(NODES)));
    }

    #[test]
    fn raw_toggle_round_trips_and_rejects_broken_json() {
        let mut ed = EditorState::edit("1", &json!({"server_port": 9100}));
        ed.toggle_raw();
        assert!(ed.raw.as_deref().is_some_and(|r| r.contains("9100")));
        ed.insert('x');
        ed.toggle_raw();
        assert!(ed.raw.is_some(), "broken json keeps raw mode");
        assert!(ed.error.is_some());
        ed.backspace();
        ed.toggle_raw();
        assert!(ed.raw.is_none());
        assert_eq!(ed.fields[PORT], "9100");
        assert_eq!(ed.editing.as_deref(), Some("1"));
    }
}
