//! `handle_event`: the dashboard's state transitions. Keys are resolved through the keymap
//! in `Normal` mode, or edited into the prompt in `Filter`/`Command` mode; destructive
//! actions go through `Confirm`; results of effects come back as events.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::actions::{self, quit};
use super::rows::row_count;
use super::{App, Link, Mode, Pending, View};
use crate::editor::EditorError;
use crate::event::{Effect, Event};
use crate::keymap::{self, Action};

/// Applies one event to the state and returns the work it asks for.
pub fn handle_event(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => on_key(app, key),
        Event::Key(_) => Vec::new(),
        Event::Paste(text) => {
            actions::paste_text(app, &text);
            Vec::new()
        }
        Event::Data(snapshot) => {
            app.link = Link::Connected;
            if !app.frozen {
                app.snapshot = (*snapshot).clone();
                clamp_all(app);
                app.recheck_editor();
            }
            Vec::new()
        }
        Event::FetchFailed(error) => {
            app.link = Link::Disconnected { error };
            Vec::new()
        }
        Event::Killed { id, result } => done(app, result, format!("connection {id} killed")),
        Event::Deleted { id, result } => done(app, result, format!("stream_route {id} deleted")),
        Event::Saved { id, result } => on_saved(app, id, result),
        Event::Tested(outcome) => {
            if let Some(tester) = &mut app.tester {
                tester.running = false;
                tester.outcome = Some(outcome);
            }
            Vec::new()
        }
        Event::Terminate => quit(app),
    }
}

fn done(app: &mut App, result: Result<(), String>, ok: String) -> Vec<Effect> {
    match result {
        Ok(()) => {
            app.info(ok);
            vec![Effect::Refresh]
        }
        Err(e) => {
            app.fail(e);
            Vec::new()
        }
    }
}

fn on_saved(app: &mut App, id: String, result: Result<(), String>) -> Vec<Effect> {
    match result {
        Ok(()) => {
            app.editor = None;
            if app.view == View::Editor {
                go_back(app);
            }
            app.info(format!("stream_route {id} saved"));
            vec![Effect::Refresh]
        }
        Err(message) => {
            if let Some(editor) = &mut app.editor {
                editor.saving = false;
                editor.error = Some(EditorError {
                    message: message.clone(),
                    ..EditorError::default()
                });
            }
            app.fail(format!("stream_route {id} not saved"));
            Vec::new()
        }
    }
}

pub(crate) fn go_back(app: &mut App) {
    if let Some(prev) = app.back.pop() {
        app.view = prev;
    }
}

/// Keeps every selection inside its list after the rows changed.
pub(crate) fn clamp_all(app: &mut App) {
    let current = app.view.clone();
    for view in [View::Routes, View::Upstreams, View::Connections, current] {
        let saved = std::mem::replace(&mut app.view, view);
        let n = row_count(app);
        if let Some(list) = app.list_mut() {
            list.selected = list.selected.min(n.saturating_sub(1));
        }
        app.view = saved;
    }
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return quit(app);
    }
    match std::mem::replace(&mut app.mode, Mode::Normal) {
        Mode::Normal => on_normal_key(app, key),
        Mode::Help => Vec::new(),
        Mode::Confirm(pending) => on_confirm_key(app, pending, key),
        Mode::Filter { input } => {
            on_prompt_key(app, input, key, true);
            Vec::new()
        }
        Mode::Command { input } => match on_prompt_key(app, input, key, false) {
            Some(command) => actions::run_command(app, &command),
            None => Vec::new(),
        },
    }
}

/// Edits a prompt; returns the text when enter finished a command prompt.
fn on_prompt_key(app: &mut App, mut input: String, key: KeyEvent, filter: bool) -> Option<String> {
    match key.code {
        KeyCode::Esc => {
            if filter {
                actions::set_filter(app, String::new());
            }
            return None;
        }
        KeyCode::Enter => return (!filter).then_some(input),
        KeyCode::Backspace => drop(input.pop()),
        KeyCode::Char(c) => input.push(c),
        _ => {}
    }
    actions::set_prompt(app, input, filter);
    None
}

fn on_confirm_key(app: &mut App, pending: Pending, key: KeyEvent) -> Vec<Effect> {
    let yes = matches!(
        key.code,
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
    );
    if !yes {
        app.info("cancelled");
        return Vec::new();
    }
    if app.config.readonly {
        app.fail("read-only: writes are disabled");
        return Vec::new();
    }
    match pending {
        Pending::DeleteRoute(id) => {
            app.info(format!("deleting stream_route {id}…"));
            vec![Effect::DeleteRoute(id)]
        }
        Pending::KillConnection(id) => {
            app.info(format!("killing connection {id}…"));
            vec![Effect::Kill(id)]
        }
    }
}

fn on_normal_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    // A notice lasts until the next key; results of effects set their own when they arrive.
    app.notice = None;
    let view = app.view_kind();
    match keymap::lookup(&key, view, app.config.readonly) {
        Some(action) => on_action(app, action),
        None if app.config.readonly && keymap::lookup(&key, view, false).is_some() => {
            app.fail("read-only: writes are disabled");
            Vec::new()
        }
        None => {
            actions::type_text(app, key);
            Vec::new()
        }
    }
}

fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Up => actions::move_selection(app, -1),
        Action::Down => actions::move_selection(app, 1),
        Action::Top => actions::move_selection(app, isize::MIN),
        Action::Bottom => actions::move_selection(app, isize::MAX),
        Action::Enter => actions::drill_down(app),
        Action::Back => {
            match app.list_mut() {
                Some(list) if !list.filter.is_empty() => {
                    list.filter.clear();
                    list.selected = 0;
                }
                _ => go_back(app),
            };
        }
        Action::Filter => {
            let input = app.list().map(|l| l.filter.clone()).unwrap_or_default();
            app.mode = Mode::Filter { input };
        }
        Action::Command => {
            app.mode = Mode::Command {
                input: String::new(),
            }
        }
        Action::Refresh => {
            app.info("refreshing…");
            return vec![Effect::Refresh];
        }
        Action::Freeze => {
            app.frozen = !app.frozen;
            app.info(if app.frozen { "frozen" } else { "live" });
        }
        Action::SortNext | Action::SortReverse => actions::sort(app, action),
        Action::NextView => {
            let next = match app.view {
                View::Routes => View::Upstreams,
                View::Upstreams => View::Connections,
                _ => View::Routes,
            };
            actions::switch_to(app, next);
        }
        Action::New => actions::open_editor(app, None),
        Action::Edit => {
            if let Some(id) = actions::selected_route_id(app) {
                actions::open_editor(app, Some(id));
            }
        }
        Action::Test => actions::open_tester(app),
        Action::Delete => actions::ask_delete(app),
        Action::Help => app.mode = Mode::Help,
        Action::Quit => return quit(app),
        Action::NextField | Action::PrevField => {
            if let Some(editor) = &mut app.editor {
                editor.move_focus(if action == Action::NextField { 1 } else { -1 });
            }
        }
        Action::Save => return actions::save(app),
        Action::ToggleRaw => {
            if let Some(editor) = &mut app.editor {
                editor.toggle_raw();
            }
            app.recheck_editor();
        }
        Action::EditText(op) => actions::edit_text(app, op),
        Action::RunTest => return actions::run_test(app),
    }
    Vec::new()
}
