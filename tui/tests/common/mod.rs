//! Shared test fixtures: a snapshot parsed from the JSON files under `tests/fixtures/`
//! (in the Control and Admin API wire formats) and key helpers.

#![allow(dead_code)]

use std::sync::Arc;

use apisix_tui::admin_lists::{admin_routes, admin_upstreams};
use apisix_tui::app::{App, AppConfig};
use apisix_tui::event::{Effect, Event};
use apisix_tui::handle_event;
use apisix_tui::source::Snapshot;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use model::control::{Connection, ControlList, RouteInfo};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).expect("fixture file exists")
}

/// The fixture snapshot: 3 routes, 3 connections, 3 upstreams.
pub fn snapshot() -> Snapshot {
    let routes: ControlList<RouteInfo> =
        serde_json::from_str(&fixture("stream_routes")).expect("routes fixture parses");
    let conns: ControlList<Connection> =
        serde_json::from_str(&fixture("connections")).expect("connections fixture parses");
    Snapshot {
        status: serde_json::from_str(&fixture("status")).expect("status fixture parses"),
        routes: routes.list,
        connections: conns.list,
        admin_routes: admin_routes(
            serde_json::from_str(&fixture("admin_stream_routes")).expect("admin routes parse"),
        ),
        admin_upstreams: admin_upstreams(
            serde_json::from_str(&fixture("admin_upstreams")).expect("admin upstreams parse"),
        ),
        admin_error: None,
    }
}

/// An app that has received the fixture snapshot.
pub fn app_with(readonly: bool) -> App {
    let mut app = App::new(AppConfig {
        readonly,
        ..AppConfig::default()
    });
    let effects = handle_event(&mut app, Event::Data(Arc::new(snapshot())));
    assert!(effects.is_empty());
    app
}

/// A read-write app with the fixture data.
pub fn app() -> App {
    app_with(false)
}

/// Presses one key with modifiers.
pub fn press_code(app: &mut App, code: KeyCode, mods: KeyModifiers) -> Vec<Effect> {
    handle_event(app, Event::Key(KeyEvent::new(code, mods)))
}

/// Presses one plain key.
pub fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    press_code(app, code, KeyModifiers::NONE)
}

/// Presses ctrl + `c`.
pub fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    press_code(app, KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Types each character of `text`; returns all effects.
pub fn typing(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| press(app, KeyCode::Char(c)))
        .collect()
}
