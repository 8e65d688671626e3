//! The editor state: form ↔ body, raw JSON, the live check and the clipboard operations.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::*;

const PORT: usize = 4;

fn set(ed: &mut EditorState, i: usize, text: &str) {
    ed.fields[i] = TextBuffer::line(text);
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn new_route_form_builds_an_apisix_body() {
    let mut ed = EditorState::new_route();
    set(&mut ed, 0, "7");
    set(&mut ed, PORT, "9100");
    set(&mut ed, NODES, "127.0.0.1:3306=2, 127.0.0.2:3306");
    let (id, body) = ed.body().expect("valid form");
    assert_eq!(id, "7");
    assert_eq!(
        body,
        json!({"server_port": 9100, "upstream": {"type": "roundrobin",
            "nodes": {"127.0.0.1:3306": 2, "127.0.0.2:3306": 1}}})
    );
}

#[test]
fn the_form_sets_upstream_type_retries_timeouts_and_plugins() {
    let mut ed = EditorState::new_route();
    set(&mut ed, 0, "7");
    set(&mut ed, NODES, "127.0.0.1:80");
    set(&mut ed, 8, "chash");
    set(&mut ed, 9, "2");
    set(&mut ed, 10, "1.5");
    set(&mut ed, 11, "3");
    set(&mut ed, 12, "3");
    set(
        &mut ed,
        13,
        r#"{"limit-conn": {"conn": 1, "burst": 0, "default_conn_delay": 1, "key": "remote_addr"}}"#,
    );
    let (_, body) = ed.body().expect("valid form");
    assert_eq!(
        body,
        json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "type": "chash", "retries": 2,
                "timeout": {"connect": 1.5, "send": 3, "read": 3}},
               "plugins": {"limit-conn": {"conn": 1, "burst": 0, "default_conn_delay": 1,
                           "key": "remote_addr"}}})
    );
}

#[test]
fn editing_fills_every_field_and_keeps_unknown_fields() {
    let stored = json!({"id": "1", "server_port": 9100, "labels": {"a": "b"},
        "plugins": {"ip-restriction": {"whitelist": ["10.0.0.0/8"]}},
        "upstream": {"type": "ewma", "retries": 1, "timeout": {"connect": 1, "send": 2, "read": 3},
                     "nodes": {"127.0.0.1:80": 1}, "checks": {"active": {"type": "tcp"}}},
        "create_time": 1, "update_time": 2});
    let ed = EditorState::edit("1", &stored);
    let texts: Vec<String> = (0..FIELDS.len()).map(|i| ed.field_text(i)).collect();
    assert_eq!(texts[8..13], ["ewma", "1", "1", "2", "3"]);
    assert_eq!(
        texts[13],
        r#"{"ip-restriction":{"whitelist":["10.0.0.0/8"]}}"#
    );
    let (_, body) = ed.body().expect("valid form");
    let mut expected = stored.clone();
    for k in ["id", "create_time", "update_time"] {
        expected.as_object_mut().map(|m| m.shift_remove(k));
    }
    assert_eq!(body, expected);
}

#[test]
fn clearing_the_timeouts_removes_them_and_no_nodes_means_no_inline_upstream() {
    let stored = json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "type": "roundrobin",
        "timeout": {"connect": 1, "send": 2, "read": 3}}});
    let mut ed = EditorState::edit("1", &stored);
    for i in 10..13 {
        set(&mut ed, i, "");
    }
    let (_, body) = ed.body().expect("valid form");
    assert_eq!(
        body,
        json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "type": "roundrobin"}})
    );
    set(&mut ed, NODES, "");
    set(&mut ed, UPSTREAM_ID, "1");
    let (_, body) = ed.body().expect("valid form");
    assert_eq!(body, json!({"upstream_id": "1"}));
}

#[test]
fn bad_numbers_and_nodes_point_at_their_fields() {
    let mut ed = EditorState::new_route();
    set(&mut ed, 0, "1");
    set(&mut ed, PORT, "http");
    assert_eq!(ed.body().map_err(|e| e.field), Err(Some(PORT)));
    set(&mut ed, PORT, "80");
    set(&mut ed, NODES, "nohost");
    assert_eq!(ed.body().map_err(|e| e.field), Err(Some(NODES)));
    set(&mut ed, NODES, "");
    set(&mut ed, 13, "[]");
    assert_eq!(ed.body().map_err(|e| e.field), Err(Some(13)));
}

#[test]
fn the_live_check_puts_model_errors_on_their_field_with_the_path() {
    let mut ed = EditorState::new_route();
    set(&mut ed, 0, "1");
    set(&mut ed, NODES, "127.0.0.1:80");
    set(&mut ed, 10, "1");
    ed.recheck(&Known::default());
    let problem = ed.problem.clone().expect("timeout incomplete");
    assert_eq!(problem.field, Some(10));
    assert_eq!(problem.path.as_deref(), Some("$.upstream.timeout"));
    assert!(problem.message.contains("is required"), "{problem:?}");
    set(&mut ed, PORT, "70000");
    ed.recheck(&Known::default());
    let problem = ed.problem.clone().expect("port too big");
    assert_eq!(problem.field, Some(PORT));
    assert_eq!(problem.path.as_deref(), Some("$.server_port"));
    set(&mut ed, PORT, "9100");
    set(&mut ed, 10, "");
    ed.recheck(&Known::default());
    assert_eq!(ed.problem, None);
}

#[test]
fn the_live_check_of_raw_json_gives_the_line() {
    let mut ed = EditorState::edit(
        "1",
        &json!({"server_port": 9100,
        "upstream": {"nodes": {"127.0.0.1:80": 1}, "type": "roundrobin"}}),
    );
    ed.toggle_raw();
    let raw = ed.raw.as_mut().expect("raw mode");
    raw.jump_to(1, 20);
    for c in "99".chars() {
        ed.input(key(KeyCode::Char(c)));
    }
    ed.recheck(&Known::default());
    let problem = ed.problem.clone().expect("port too big");
    assert_eq!(problem.path.as_deref(), Some("$.server_port"));
    assert_eq!(problem.line, Some(1));
    assert!(
        problem.located().starts_with("line 2 · $.server_port · "),
        "{}",
        problem.located()
    );
    ed.input(key(KeyCode::Backspace));
    ed.input(key(KeyCode::Backspace));
    ed.recheck(&Known::default());
    assert_eq!(ed.problem, None);
    ed.input(key(KeyCode::Char(',')));
    ed.recheck(&Known::default());
    let problem = ed.problem.clone().expect("syntax error");
    assert_eq!(problem.line, Some(1));
    assert!(problem.message.starts_with("raw json: "), "{problem:?}");
}

#[test]
fn raw_toggle_round_trips_and_rejects_broken_json() {
    let mut ed = EditorState::edit("1", &json!({"server_port": 9100}));
    ed.toggle_raw();
    assert!(ed.raw.as_ref().is_some_and(|r| r.text().contains("9100")));
    ed.insert("x");
    ed.toggle_raw();
    assert!(ed.raw.is_some(), "broken json keeps raw mode");
    assert!(ed.error.is_some());
    ed.apply(EditOp::Undo);
    ed.toggle_raw();
    assert!(ed.raw.is_none());
    assert_eq!(ed.field_text(PORT), "9100");
    assert_eq!(ed.editing.as_deref(), Some("1"));
}

#[test]
fn the_clipboard_is_shared_between_fields() {
    let mut ed = EditorState::edit("1", &json!({"remote_addr": "10.0.0.0/8"}));
    ed.focus = 2;
    ed.apply(EditOp::SelectAll);
    assert!(!ed.apply(EditOp::Copy));
    assert_eq!(ed.clipboard, "10.0.0.0/8");
    ed.focus = 3;
    assert!(ed.apply(EditOp::Paste));
    assert_eq!(ed.field_text(3), "10.0.0.0/8");
    ed.focus = 2;
    assert!(ed.apply(EditOp::DeleteLine));
    assert_eq!(ed.field_text(2), "");
    assert!(ed.apply(EditOp::Undo));
    assert_eq!(ed.field_text(2), "10.0.0.0/8");
}

#[test]
fn an_edit_clears_the_last_save_error() {
    let mut ed = EditorState::edit("1", &json!({"server_port": 9100}));
    ed.error = Some(EditorError {
        message: "from the server".into(),
        ..EditorError::default()
    });
    ed.input(key(KeyCode::Left));
    assert!(ed.error.is_some(), "moving is not an edit");
    ed.input(key(KeyCode::Char('x')));
    assert_eq!(ed.error, None);
}
