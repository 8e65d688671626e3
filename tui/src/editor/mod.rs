//! The route editor's state: a form of the common stream-route fields (upstream `type`,
//! `retries`, timeouts and `plugins` included) or a raw JSON buffer, each text a real editor
//! ([`text::TextBuffer`]), the live check of what is typed, and the Admin API body it builds.
//! Fields the form has no line for (labels, `checks`, ...) are kept from the stored value.
//!
//! - [`fields`]: the form's fields, their JSON paths and how their text becomes JSON.
//! - [`text`]: one editable text (cursor, selection, undo, clipboard operations).
//! - [`check`]: the live check through `model::validate` and where its error points.

pub mod check;
pub mod fields;
pub mod text;

use crossterm::event::KeyEvent;
use serde_json::{Map, Value};

pub use fields::{parse_nodes, Field, FIELDS};
pub use text::TextBuffer;

use check::{check_route, line_of, Known};
use fields::{set_at, text_of, value_of, ID, NODES, UPSTREAM_ID};

/// A problem with the input: found while typing, or the server's answer to a save.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditorError {
    /// The form field at fault, when known.
    pub field: Option<usize>,
    /// The JSONPath of the value at fault (`$.upstream.timeout`), when known.
    pub path: Option<String>,
    /// The 0-based line of the raw JSON at fault, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl EditorError {
    fn on_field(field: usize, message: String) -> Self {
        EditorError {
            field: Some(field),
            message,
            ..EditorError::default()
        }
    }

    /// `line 5 · $.upstream.timeout · <message>`, leaving out what is unknown.
    pub fn located(&self) -> String {
        let mut parts = Vec::new();
        if let Some(line) = self.line {
            parts.push(format!("line {}", line + 1));
        }
        if let Some(path) = &self.path {
            parts.push(path.clone());
        }
        parts.push(self.message.clone());
        parts.join(" · ")
    }
}

/// One of the editing operations the keymap names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp {
    /// Undo the last edit of the focused text.
    Undo,
    /// Redo it.
    Redo,
    /// Cut the selection into the clipboard.
    Cut,
    /// Copy the selection into the clipboard.
    Copy,
    /// Paste the clipboard.
    Paste,
    /// Select the whole text.
    SelectAll,
    /// Delete the cursor's line (into the clipboard).
    DeleteLine,
}

/// Editor state.
#[derive(Debug, Clone, PartialEq)]
pub struct EditorState {
    /// The id being edited; `None` for a new route.
    pub editing: Option<String>,
    /// The stored value the form edits (empty object for a new route).
    pub base: Value,
    /// Field texts, as in [`FIELDS`].
    pub fields: Vec<TextBuffer>,
    /// Focused field.
    pub focus: usize,
    /// The raw JSON buffer when in raw mode.
    pub raw: Option<TextBuffer>,
    /// The live check of the text as it stands (form/JSON syntax, then `model::validate`).
    pub problem: Option<EditorError>,
    /// The last save's failure (a local refusal or the server's `error_msg`), until the
    /// next edit.
    pub error: Option<EditorError>,
    /// A save is in flight.
    pub saving: bool,
    /// Text cut or copied, shared by every buffer.
    pub clipboard: String,
}

impl EditorState {
    fn with(editing: Option<String>, base: Value, fields: Vec<TextBuffer>, focus: usize) -> Self {
        Self {
            editing,
            base,
            fields,
            focus,
            raw: None,
            problem: None,
            error: None,
            saving: false,
            clipboard: String::new(),
        }
    }

    /// A blank form for a new route.
    pub fn new_route() -> Self {
        let fields = FIELDS.iter().map(|_| TextBuffer::line("")).collect();
        Self::with(None, Value::Object(Map::new()), fields, ID)
    }

    /// A form filled from a stored route.
    pub fn edit(id: &str, value: &Value) -> Self {
        let fields = FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| {
                TextBuffer::line(&if i == ID {
                    id.to_owned()
                } else {
                    text_of(value, f)
                })
            })
            .collect();
        Self::with(Some(id.to_owned()), value.clone(), fields, 1)
    }

    /// The text of field `i`.
    pub fn field_text(&self, i: usize) -> String {
        self.fields.get(i).map(TextBuffer::text).unwrap_or_default()
    }

    fn buffer_mut(&mut self) -> &mut TextBuffer {
        match &mut self.raw {
            Some(raw) => raw,
            None => &mut self.fields[self.focus],
        }
    }

    /// An editing or moving key for the focused text; returns whether the text changed.
    pub fn input(&mut self, key: KeyEvent) -> bool {
        self.edited(|b| b.input(key))
    }

    /// Inserts `text` at the cursor (a paste from the terminal).
    pub fn insert(&mut self, text: &str) -> bool {
        self.edited(|b| b.insert(text))
    }

    /// Runs an editing operation on the focused text; returns whether the text changed.
    pub fn apply(&mut self, op: EditOp) -> bool {
        let clipboard = self.clipboard.clone();
        let mut taken = None;
        let changed = self.edited(|b| match op {
            EditOp::Undo => b.undo(),
            EditOp::Redo => b.redo(),
            EditOp::SelectAll => {
                b.select_all();
                false
            }
            EditOp::Copy => {
                taken = b.copy();
                false
            }
            EditOp::Cut => {
                taken = b.cut();
                taken.is_some()
            }
            EditOp::DeleteLine => {
                taken = b.delete_line();
                taken.is_some()
            }
            EditOp::Paste => !clipboard.is_empty() && b.paste(&clipboard),
        });
        if let Some(text) = taken {
            self.clipboard = text;
        }
        changed
    }

    fn edited(&mut self, edit: impl FnOnce(&mut TextBuffer) -> bool) -> bool {
        let changed = edit(self.buffer_mut());
        if changed {
            self.error = None;
        }
        changed
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
                    self.raw = Some(TextBuffer::lines(&pretty));
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            },
            Some(raw) => match serde_json::from_str::<Value>(&raw.text()) {
                Ok(value) if value.is_object() => {
                    let id = self.id_for(&value);
                    let mut next = Self::edit(&id, &value);
                    next.editing = self.editing.take();
                    next.clipboard = std::mem::take(&mut self.clipboard);
                    next.problem = self.problem.take();
                    *self = next;
                }
                Ok(_) => self.keep_raw(
                    raw,
                    EditorError {
                        message: "raw json: the body must be an object".into(),
                        ..EditorError::default()
                    },
                ),
                Err(e) => self.keep_raw(raw, json_error(&e)),
            },
        }
    }

    fn keep_raw(&mut self, raw: TextBuffer, error: EditorError) {
        self.raw = Some(raw);
        self.error = Some(error);
    }

    /// The id field, or the raw body's `id` when the field is empty.
    fn id_for(&self, body: &Value) -> String {
        let typed = self.field_text(ID).trim().to_owned();
        if typed.is_empty() {
            body.get("id")
                .and_then(model::types::id_string)
                .unwrap_or_default()
        } else {
            typed
        }
    }

    /// The id and body to PUT, or the first problem that keeps one from being built.
    pub fn body(&self) -> Result<(String, Value), EditorError> {
        let Some(raw) = &self.raw else {
            return self.form_body();
        };
        let value: Value = serde_json::from_str(&raw.text()).map_err(|e| json_error(&e))?;
        let id = self.id_for(&value);
        if id.is_empty() {
            return Err(EditorError::on_field(ID, "id is required".into()));
        }
        Ok((id, value))
    }

    fn form_body(&self) -> Result<(String, Value), EditorError> {
        let id = self.field_text(ID).trim().to_owned();
        if id.is_empty() {
            return Err(EditorError::on_field(ID, "id is required".into()));
        }
        let mut body = match &self.base {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        for key in ["id", "create_time", "update_time"] {
            body.shift_remove(key);
        }
        let mut values = Vec::with_capacity(FIELDS.len());
        for (i, field) in FIELDS.iter().enumerate() {
            let value =
                value_of(field, &self.field_text(i)).map_err(|m| EditorError::on_field(i, m))?;
            values.push(value);
        }
        if values[UPSTREAM_ID].is_some() && values[NODES].is_some() {
            return Err(EditorError::on_field(
                NODES,
                "set upstream_id or nodes, not both".into(),
            ));
        }
        let inline = values[NODES].is_some();
        for (i, (field, value)) in FIELDS.iter().zip(values).enumerate().skip(1) {
            if field.path[0] != "upstream" || inline {
                set_at(&mut body, field.path, value);
            } else if i == NODES {
                // No nodes: the form describes no inline upstream (a stored one may still
                // name its nodes through service discovery).
                let discovered = body
                    .get("upstream")
                    .is_some_and(|u| u.get("service_name").is_some());
                if !discovered {
                    body.shift_remove("upstream");
                }
            }
        }
        if let Some(Value::Object(up)) = body.get_mut("upstream") {
            if up
                .get("timeout")
                .is_some_and(|t| t == &Value::Object(Map::new()))
            {
                up.shift_remove("timeout");
            }
            if inline {
                up.entry("type")
                    .or_insert_with(|| Value::from("roundrobin"));
            }
        }
        Ok((id, Value::Object(body)))
    }

    /// Checks the text as it stands and records the first problem in [`Self::problem`]:
    /// what keeps a body from being built, else the Admin API's verdict (`model::validate`)
    /// with its JSON path, the form field it belongs to and its line in the raw JSON.
    pub fn recheck(&mut self, known: &Known) {
        self.problem = match self.body() {
            Err(e) => Some(e),
            Ok((id, body)) => check_route(&id, &body, known).err().map(|(path, message)| {
                let line = self
                    .raw
                    .as_ref()
                    .and_then(|raw| line_of(&raw.text(), &path));
                EditorError {
                    field: fields::field_of(&path),
                    path: Some(path.to_string()),
                    line,
                    message,
                }
            }),
        };
    }
}

/// A JSON syntax error, on its line.
fn json_error(e: &serde_json::Error) -> EditorError {
    EditorError {
        line: e.line().checked_sub(1),
        message: format!("raw json: {e}"),
        ..EditorError::default()
    }
}

#[cfg(test)]
mod tests;
