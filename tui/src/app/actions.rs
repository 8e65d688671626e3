//! What the keymap's actions do to the state: selection, drill-down, sorting, view
//! switches, `:` commands, opening the editor and tester, and building write effects.

use crossterm::event::{KeyCode, KeyEvent};

use super::rows::{
    self, conn_rows, detail_conn_rows, route_rows, row_count, CONN_SORTS, ROUTE_SORTS,
};
use super::{App, Mode, Pending, TesterState, View};
use crate::editor::{EditOp, EditorState};
use crate::event::Effect;
use crate::keymap::Action;
use crate::source::TestRequest;

/// Moves the current list's selection by `delta` rows (saturating at both ends).
pub fn move_selection(app: &mut App, delta: isize) {
    let n = row_count(app);
    if let Some(list) = app.list_mut() {
        let last = n.saturating_sub(1) as isize;
        list.selected = (list.selected as isize)
            .saturating_add(delta)
            .clamp(0, last) as usize;
    }
}

/// Shows a top-level view, forgetting the back stack.
pub fn switch_to(app: &mut App, view: View) {
    app.back.clear();
    app.view = view;
    app.mode = Mode::Normal;
}

fn push_view(app: &mut App, view: View) {
    let prev = std::mem::replace(&mut app.view, view);
    app.back.push(prev);
}

/// Enter: routes and connections open the route; others do nothing.
pub fn drill_down(app: &mut App) {
    let route_id = match app.view {
        View::Routes => route_rows(app)
            .get(app.routes.selected)
            .map(|r| r.id.clone()),
        View::Connections => conn_rows(app)
            .get(app.conns.selected)
            .map(|c| c.route_id.clone()),
        _ => None,
    };
    if let Some(route_id) = route_id {
        app.detail.selected = 0;
        app.detail.filter.clear();
        push_view(app, View::RouteDetail { route_id });
    }
}

/// The route the current view is about: the selected row or the open route.
pub fn selected_route_id(app: &App) -> Option<String> {
    match &app.view {
        View::Routes => route_rows(app)
            .get(app.routes.selected)
            .map(|r| r.id.clone()),
        View::RouteDetail { route_id } => Some(route_id.clone()),
        _ => None,
    }
}

/// `s` / `S` in the routes and connections views.
pub fn sort(app: &mut App, action: Action) {
    let columns: &[&str] = match app.view {
        View::Routes => &ROUTE_SORTS,
        View::Connections => &CONN_SORTS,
        _ => return,
    };
    let Some(list) = app.list_mut() else { return };
    if action == Action::SortNext {
        list.sort = (list.sort + 1) % columns.len();
    } else {
        list.descending = !list.descending;
    }
    let text = format!(
        "sorted by {} {}",
        columns[list.sort],
        if list.descending { "desc" } else { "asc" }
    );
    app.info(text);
}

/// Runs a `:` command.
pub fn run_command(app: &mut App, command: &str) -> Vec<Effect> {
    match command.trim() {
        "routes" | "route" | "r" => switch_to(app, View::Routes),
        "upstreams" | "upstream" | "ups" | "u" => switch_to(app, View::Upstreams),
        "conns" | "connections" | "c" => switch_to(app, View::Connections),
        "help" | "h" => app.mode = Mode::Help,
        "q" | "quit" | "q!" => return quit(app),
        "" => {}
        other => app.fail(format!("unknown command: {other}")),
    }
    Vec::new()
}

/// Opens the editor on a new route (`None`) or a stored one.
pub fn open_editor(app: &mut App, route_id: Option<String>) {
    let editor = match route_id {
        None => EditorState::new_route(),
        Some(id) => match app.snapshot.admin_routes.iter().find(|r| r.id == id) {
            Some(stored) => EditorState::edit(&id, &stored.value),
            None => {
                app.fail(format!("stream_route {id}: not in the Admin API answer"));
                return;
            }
        },
    };
    app.editor = Some(editor);
    app.recheck_editor();
    push_view(app, View::Editor);
}

/// Opens the tester on the current route.
pub fn open_tester(app: &mut App) {
    let Some(route_id) = selected_route_id(app) else {
        return;
    };
    let addr = test_target(app, &route_id);
    app.tester = Some(TesterState {
        route_id,
        addr,
        payload: String::new(),
        running: false,
        outcome: None,
    });
    push_view(app, View::Tester);
}

fn is_wildcard(host: &str) -> bool {
    matches!(host, "" | "0.0.0.0" | "::" | "[::]" | "*")
}

fn control_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    model::types::split_host_port(authority).0
}

/// Where a test of `route_id` connects: the route's `server_addr` (or the listener's, or
/// the Control API's host) and its `server_port` (or the first TCP listener's).
pub fn test_target(app: &App, route_id: &str) -> Option<String> {
    let route = rows::route(app, route_id)?;
    let tcp = app
        .snapshot
        .status
        .listeners
        .iter()
        .filter(|l| l.protocol != "udp")
        .map(|l| model::types::split_host_port(&l.addr))
        .collect::<Vec<_>>();
    let listener = match route.matcher.server_port {
        Some(port) => tcp.iter().find(|(_, p)| *p == Some(port)).cloned(),
        None => tcp.first().cloned(),
    };
    let port = route
        .matcher
        .server_port
        .or(listener.as_ref().and_then(|l| l.1))?;
    let host = [
        route.matcher.server_addr.clone(),
        listener.map(|l| l.0),
        Some(control_host(&app.config.control_url)),
    ]
    .into_iter()
    .flatten()
    .find(|h| !is_wildcard(h))
    .unwrap_or_else(|| "127.0.0.1".into());
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    Some(format!("{host}:{port}"))
}

/// ctrl-d: asks to delete the selected route or kill the selected connection.
pub fn ask_delete(app: &mut App) {
    let pending = match &app.view {
        View::Routes => selected_route_id(app).map(Pending::DeleteRoute),
        View::Connections => conn_rows(app)
            .get(app.conns.selected)
            .map(|c| Pending::KillConnection(c.id.clone())),
        View::RouteDetail { route_id } => detail_conn_rows(app, route_id)
            .get(app.detail.selected)
            .map(|c| Pending::KillConnection(c.id.clone())),
        _ => None,
    };
    if let Some(pending) = pending {
        app.mode = Mode::Confirm(pending);
    }
}

/// ctrl-s in the editor: checks the form and asks the runtime to PUT it.
pub fn save(app: &mut App) -> Vec<Effect> {
    if app.config.readonly {
        app.fail("read-only: writes are disabled");
        return Vec::new();
    }
    let Some(editor) = &mut app.editor else {
        return Vec::new();
    };
    if editor.saving {
        return Vec::new();
    }
    match editor.body() {
        Ok((id, body)) => {
            editor.saving = true;
            editor.error = None;
            app.info(format!("saving stream_route {id}…"));
            vec![Effect::SaveRoute { id, body }]
        }
        Err(e) => {
            editor.error = Some(e);
            Vec::new()
        }
    }
}

/// enter in the tester: runs the test unless one is running.
pub fn run_test(app: &mut App) -> Vec<Effect> {
    let Some(tester) = &mut app.tester else {
        return Vec::new();
    };
    if tester.running {
        return Vec::new();
    }
    let Some(addr) = tester.addr.clone() else {
        let text = format!("stream_route {}: no listener port to test", tester.route_id);
        app.fail(text);
        return Vec::new();
    };
    tester.running = true;
    tester.outcome = None;
    vec![Effect::RunTest(TestRequest {
        route_id: tester.route_id.clone(),
        addr,
        payload: tester.payload.clone(),
    })]
}

/// Unbound keys in the editor and tester edit their text; an edit is checked at once.
pub fn type_text(app: &mut App, key: KeyEvent) {
    match app.view {
        View::Editor if app.editor.as_mut().is_some_and(|e| e.input(key)) => {
            app.recheck_editor();
        }
        View::Tester => {
            let Some(tester) = &mut app.tester else {
                return;
            };
            match key.code {
                KeyCode::Char(c) => tester.payload.push(c),
                KeyCode::Backspace => drop(tester.payload.pop()),
                _ => {}
            }
        }
        _ => {}
    }
}

/// An editing operation of the keymap on the editor's focused text.
pub fn edit_text(app: &mut App, op: EditOp) {
    if app.editor.as_mut().is_some_and(|e| e.apply(op)) {
        app.recheck_editor();
    }
}

/// Text pasted into the terminal: into the editor, the tester's payload or the prompt.
pub fn paste_text(app: &mut App, text: &str) {
    match std::mem::replace(&mut app.mode, Mode::Normal) {
        Mode::Filter { mut input } => {
            input.push_str(text.trim_end_matches(['\r', '\n']));
            set_prompt(app, input, true);
        }
        Mode::Command { mut input } => {
            input.push_str(text.trim_end_matches(['\r', '\n']));
            set_prompt(app, input, false);
        }
        Mode::Normal => match app.view {
            View::Editor if app.editor.as_mut().is_some_and(|e| e.insert(text)) => {
                app.recheck_editor();
            }
            View::Tester => {
                if let Some(tester) = &mut app.tester {
                    tester.payload.push_str(text);
                }
            }
            _ => {}
        },
        other => app.mode = other,
    }
}

/// Puts the edited prompt text back (and applies a filter as it is typed).
pub(crate) fn set_prompt(app: &mut App, input: String, filter: bool) {
    if filter {
        set_filter(app, input.clone());
        app.mode = Mode::Filter { input };
    } else {
        app.mode = Mode::Command { input };
    }
}

pub(crate) fn set_filter(app: &mut App, filter: String) {
    if let Some(list) = app.list_mut() {
        list.filter = filter;
        list.selected = 0;
    }
}

/// Ends the dashboard.
pub(crate) fn quit(app: &mut App) -> Vec<Effect> {
    app.quit = true;
    vec![Effect::Quit]
}
