//! State tests: key sequences and events drive `handle_event`; assertions on views, modes,
//! lists and the effects asked of the runtime.

mod common;

use std::sync::Arc;

use apisix_tui::app::rows::{conn_rows, route_rows, upstream_rows};
use apisix_tui::app::{App, AppConfig, Link, Mode, Pending, View};
use apisix_tui::event::{Effect, Event};
use apisix_tui::handle_event;
use apisix_tui::source::{Snapshot, TestOutcome, TestRequest};
use common::{app, app_with, ctrl, press, press_code, typing};
use crossterm::event::{KeyCode, KeyModifiers};
use serde_json::json;

fn route_ids(app: &App) -> Vec<String> {
    route_rows(app).iter().map(|r| r.id.clone()).collect()
}

#[test]
fn fresh_app_waits_then_shows_data_as_connected() {
    let mut app = App::new(AppConfig::default());
    assert_eq!(app.link, Link::Connecting);
    handle_event(&mut app, Event::Data(Arc::new(common::snapshot())));
    assert_eq!(app.link, Link::Connected);
    assert_eq!(route_ids(&app), ["1", "2", "10"], "ids sort numerically");
}

#[test]
fn j_k_move_and_enter_opens_the_route_and_esc_goes_back() {
    let mut app = app();
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.routes.selected, 2, "selection stops at the last row");
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.view,
        View::RouteDetail {
            route_id: "2".into()
        }
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Routes);
    assert_eq!(app.routes.selected, 1, "selection survives the round trip");
}

#[test]
fn filter_narrows_rows_live_and_esc_clears_it() {
    let mut app = app();
    typing(&mut app, "/redis");
    assert_eq!(
        app.mode,
        Mode::Filter {
            input: "redis".into()
        }
    );
    assert_eq!(route_ids(&app), ["2"]);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.routes.filter, "redis");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.routes.filter, "");
    assert_eq!(route_ids(&app).len(), 3);
}

#[test]
fn filter_matches_sni_and_prompt_esc_drops_filter() {
    let mut app = app();
    typing(&mut app, "/example");
    assert_eq!(route_ids(&app), ["10"]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(route_ids(&app).len(), 3);
}

#[test]
fn s_cycles_sort_columns_and_shift_s_reverses() {
    let mut app = app();
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.routes.sort, 2, "sorted by active");
    assert_eq!(route_ids(&app), ["10", "2", "1"]);
    press(&mut app, KeyCode::Char('S'));
    assert!(app.routes.descending);
    assert_eq!(route_ids(&app), ["1", "2", "10"]);
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(route_ids(&app), ["10", "1", "2"], "total, descending");
}

#[test]
fn connections_sort_by_age_and_bytes() {
    let mut app = app();
    typing(&mut app, ":conns");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Connections);
    let ids: Vec<_> = conn_rows(&app).iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        ids,
        [
            "c-000000000000002a",
            "c-000000000000002b",
            "c-000000000000002c"
        ]
    );
    typing(&mut app, "sssS");
    let ids: Vec<_> = conn_rows(&app).iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids[0], "c-000000000000002b", "most bytes in first");
}

#[test]
fn commands_switch_views_and_q_quits() {
    let mut app = app();
    typing(&mut app, ":upstreams");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Upstreams);
    typing(&mut app, ":nope");
    press(&mut app, KeyCode::Enter);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.error && n.text.contains("nope")));
    typing(&mut app, ":routes");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Routes);
    typing(&mut app, ":q");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(effects, [Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn tab_cycles_top_level_views() {
    let mut app = app();
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Upstreams);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Connections);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Routes);
}

#[test]
fn upstreams_view_lists_used_and_unused_upstream_nodes() {
    let app = app();
    let rows = upstream_rows(&app);
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.upstream.as_str(), r.node.as_str(), r.healthy, r.active))
        .collect();
    assert_eq!(
        summary,
        [
            ("1", "127.0.0.1:3306", Some(true), 2),
            ("1", "127.0.0.2:3306", Some(false), 0),
            ("2", "10.1.0.5:5432", Some(true), 0),
            ("3", "192.168.1.20:8080", None, 0),
            ("route 2", "127.0.0.1:6379", Some(true), 1),
        ]
    );
    assert_eq!(rows[0].name, "mysql-pool");
}

#[test]
fn ctrl_d_on_a_route_asks_and_y_deletes() {
    let mut app = app();
    assert!(
        ctrl(&mut app, 'd').is_empty(),
        "nothing happens before confirmation"
    );
    assert_eq!(app.mode, Mode::Confirm(Pending::DeleteRoute("1".into())));
    let effects = press(&mut app, KeyCode::Char('y'));
    assert_eq!(effects, [Effect::DeleteRoute("1".into())]);
    assert_eq!(app.mode, Mode::Normal);
    let effects = handle_event(
        &mut app,
        Event::Deleted {
            id: "1".into(),
            result: Ok(()),
        },
    );
    assert_eq!(effects, [Effect::Refresh]);
}

#[test]
fn confirmation_is_cancelled_by_n_or_esc() {
    let mut app = app();
    ctrl(&mut app, 'd');
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    ctrl(&mut app, 'd');
    assert!(press(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.view, View::Routes);
}

#[test]
fn ctrl_d_on_a_connection_kills_it_after_confirmation() {
    let mut app = app();
    typing(&mut app, ":conns");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('j'));
    ctrl(&mut app, 'd');
    assert_eq!(
        app.mode,
        Mode::Confirm(Pending::KillConnection("c-000000000000002b".into()))
    );
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(effects, [Effect::Kill("c-000000000000002b".into())]);
    let result = Err("connection[c-000000000000002b] not found".to_owned());
    handle_event(
        &mut app,
        Event::Killed {
            id: "c-000000000000002b".into(),
            result,
        },
    );
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.error && n.text.contains("not found")));
}

#[test]
fn route_detail_kills_its_own_connections() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('j'));
    ctrl(&mut app, 'd');
    assert_eq!(
        app.mode,
        Mode::Confirm(Pending::KillConnection("c-000000000000002b".into()))
    );
}

#[test]
fn readonly_refuses_every_write_key() {
    let mut app = app_with(true);
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert_eq!(app.view, View::Routes);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("read-only")));
    assert!(press(&mut app, KeyCode::Char('e')).is_empty());
    assert!(ctrl(&mut app, 'd').is_empty());
    assert_eq!(app.mode, Mode::Normal, "no confirmation dialog");
    typing(&mut app, ":conns");
    press(&mut app, KeyCode::Enter);
    assert!(ctrl(&mut app, 'd').is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn readonly_still_allows_browsing_and_testing() {
    let mut app = app_with(true);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.view, View::RouteDetail { .. }));
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.view, View::Tester);
}

#[test]
fn gateway_down_shows_disconnected_keeps_data_and_recovers() {
    let mut app = app();
    handle_event(&mut app, Event::FetchFailed("connection refused".into()));
    assert_eq!(
        app.link,
        Link::Disconnected {
            error: "connection refused".into()
        }
    );
    assert_eq!(app.snapshot.routes.len(), 3, "last data stays visible");
    handle_event(&mut app, Event::Data(Arc::new(Snapshot::default())));
    assert_eq!(app.link, Link::Connected);
    assert!(app.snapshot.routes.is_empty());
}

#[test]
fn freeze_keeps_the_screen_while_data_arrives() {
    let mut app = app();
    press(&mut app, KeyCode::Char('f'));
    assert!(app.frozen);
    handle_event(&mut app, Event::Data(Arc::new(Snapshot::default())));
    assert_eq!(app.snapshot.routes.len(), 3);
    press(&mut app, KeyCode::Char('f'));
    handle_event(&mut app, Event::Data(Arc::new(Snapshot::default())));
    assert!(app.snapshot.routes.is_empty());
}

#[test]
fn selection_is_clamped_when_rows_disappear() {
    let mut app = app();
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.routes.selected, 2);
    let mut fewer = common::snapshot();
    fewer.routes.truncate(1);
    handle_event(&mut app, Event::Data(Arc::new(fewer)));
    assert_eq!(app.routes.selected, 0);
}

#[test]
fn r_asks_for_a_refresh() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('r')), [Effect::Refresh]);
}

#[test]
fn new_route_form_saves_through_the_admin_api() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.view, View::Editor);
    typing(&mut app, "7");
    press(&mut app, KeyCode::Tab);
    typing(&mut app, "echo q");
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    typing(&mut app, "9102");
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Down);
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    typing(&mut app, "127.0.0.1:7000=3");
    let effects = ctrl(&mut app, 's');
    assert_eq!(
        effects,
        [Effect::SaveRoute {
            id: "7".into(),
            body: json!({"name": "echo q", "server_port": 9102,
                "upstream": {"type": "roundrobin", "nodes": {"127.0.0.1:7000": 3}}}),
        }]
    );
    assert!(app.editor.as_ref().is_some_and(|e| e.saving));
    let effects = handle_event(
        &mut app,
        Event::Saved {
            id: "7".into(),
            result: Ok(()),
        },
    );
    assert_eq!(effects, [Effect::Refresh]);
    assert_eq!(app.view, View::Routes);
    assert!(app.editor.is_none());
}

#[test]
fn server_validation_error_stays_in_the_editor() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    let editor = app.editor.as_ref().expect("editor open");
    assert_eq!(editor.fields[0], "1");
    assert_eq!(editor.fields[4], "9100");
    assert_eq!(editor.fields[6], "1");
    let effects = ctrl(&mut app, 's');
    let Some(Effect::SaveRoute { id, body }) = effects.first() else {
        panic!("expected a save, got {effects:?}");
    };
    assert_eq!(id, "1");
    assert!(body.get("plugins").is_some(), "plugins are kept");
    let msg = "failed to fetch upstream info by upstream id [1], response code: 404";
    handle_event(
        &mut app,
        Event::Saved {
            id: "1".into(),
            result: Err(msg.into()),
        },
    );
    assert_eq!(app.view, View::Editor);
    let editor = app.editor.as_ref().expect("editor still open");
    assert!(!editor.saving);
    assert_eq!(editor.error.as_ref().map(|e| e.message.as_str()), Some(msg));
}

#[test]
fn editor_takes_letters_as_text_and_esc_leaves() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    typing(&mut app, "q?j");
    assert!(!app.quit);
    assert_eq!(
        app.editor.as_ref().map(|e| e.field_text(0)).as_deref(),
        Some("q?j")
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Routes);
}

#[test]
fn local_form_error_blocks_the_save() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    assert!(ctrl(&mut app, 's').is_empty());
    let error = app
        .editor
        .as_ref()
        .and_then(|e| e.error.clone())
        .expect("error shown");
    assert_eq!(error.field, Some(0));
}

#[test]
fn tester_targets_the_route_port_and_runs_on_enter() {
    let mut app = app();
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.view, View::Tester);
    let tester = app.tester.as_ref().expect("tester open");
    assert_eq!(tester.addr.as_deref(), Some("127.0.0.1:9100"));
    typing(&mut app, "ping");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::RunTest(TestRequest {
            route_id: "1".into(),
            addr: "127.0.0.1:9100".into(),
            payload: "ping".into(),
        })]
    );
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "one test at a time"
    );
    let outcome = TestOutcome {
        connect_ms: Some(0.5),
        ..TestOutcome::default()
    };
    handle_event(&mut app, Event::Tested(outcome.clone()));
    let tester = app.tester.as_ref().expect("tester open");
    assert!(!tester.running);
    assert_eq!(tester.outcome.as_ref(), Some(&outcome));
}

#[test]
fn tester_uses_the_control_host_for_wildcard_listeners() {
    let mut app = App::new(AppConfig {
        control_url: "http://10.9.8.7:9090/".into(),
        ..AppConfig::default()
    });
    handle_event(&mut app, Event::Data(Arc::new(common::snapshot())));
    typing(&mut app, "jt");
    assert_eq!(
        app.tester.as_ref().and_then(|t| t.addr.clone()).as_deref(),
        Some("10.9.8.7:9101")
    );
}

#[test]
fn help_opens_on_question_mark_and_any_key_closes_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    assert!(
        press(&mut app, KeyCode::Char('q')).is_empty(),
        "q closes help, does not quit"
    );
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.quit);
}

#[test]
fn ctrl_c_and_signals_quit_from_any_mode() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(ctrl(&mut app, 'c'), [Effect::Quit]);
    let mut app = common::app();
    assert_eq!(handle_event(&mut app, Event::Terminate), [Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn a_notice_lasts_until_the_next_key() {
    let mut app = app();
    press(&mut app, KeyCode::Char('s'));
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("sorted by name")));
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.notice, None);
}

/// The editor's raw JSON text.
fn raw_text(app: &App) -> String {
    app.editor
        .as_ref()
        .and_then(|e| e.raw.as_ref())
        .map(|r| r.text())
        .expect("raw JSON open")
}

#[test]
fn raw_json_keys_move_edit_and_undo_in_the_middle_and_the_save_sends_the_edit() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 't');
    assert!(raw_text(&app).contains("\"server_port\": 9100,"));
    // ↓ moves in the text (not to another field), enter breaks the line.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Backspace);
    typing(&mut app, "1");
    assert!(
        raw_text(&app).contains("\"server_port\": 9101,"),
        "{}",
        raw_text(&app)
    );
    ctrl(&mut app, 'z');
    assert!(
        raw_text(&app).contains("\"server_port\": 910,"),
        "{}",
        raw_text(&app)
    );
    ctrl(&mut app, 'r');
    let effects = ctrl(&mut app, 's');
    let Some(Effect::SaveRoute { id, body }) = effects.first() else {
        panic!("expected a save, got {effects:?}");
    };
    assert_eq!(id, "1");
    assert_eq!(body["server_port"], 9101);
    assert!(body.get("plugins").is_some(), "the rest is kept");
}

#[test]
fn typing_shows_the_model_error_at_once_and_the_fix_clears_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    let problem = |app: &App| app.editor.as_ref().and_then(|e| e.problem.clone());
    assert_eq!(problem(&app), None, "the stored route is valid");
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    typing(&mut app, "99");
    let p = problem(&app).expect("port out of range");
    assert_eq!(p.field, Some(4));
    assert_eq!(p.path.as_deref(), Some("$.server_port"));
    ctrl(&mut app, 'z');
    ctrl(&mut app, 'z');
    assert_eq!(problem(&app), None);
    assert_eq!(
        app.editor.as_ref().map(|e| e.field_text(4)).as_deref(),
        Some("9100")
    );
}

#[test]
fn a_stored_upstream_that_does_not_exist_is_flagged_while_typing() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    for _ in 0..5 {
        press(&mut app, KeyCode::Down);
    }
    typing(&mut app, "9");
    let p = app
        .editor
        .as_ref()
        .and_then(|e| e.problem.clone())
        .expect("no upstream 19");
    assert_eq!(p.path.as_deref(), Some("$.upstream_id"));
    assert!(p.message.contains("upstream id [19]"), "{p:?}");
}

#[test]
fn pasted_text_and_the_clipboard_go_in_at_the_cursor() {
    let mut app = app();
    press(&mut app, KeyCode::Char('n'));
    handle_event(&mut app, Event::Paste("r-7".into()));
    press(&mut app, KeyCode::Home);
    handle_event(&mut app, Event::Paste("x\n".into()));
    let editor = app.editor.as_ref().expect("editor open");
    assert_eq!(editor.field_text(0), "x r-7");
    ctrl(&mut app, 'a');
    press_code(&mut app, KeyCode::Char('c'), KeyModifiers::ALT);
    press(&mut app, KeyCode::Tab);
    ctrl(&mut app, 'v');
    assert_eq!(
        app.editor.as_ref().map(|e| e.field_text(1)).as_deref(),
        Some("x r-7")
    );
    ctrl(&mut app, 'd');
    assert_eq!(
        app.editor.as_ref().map(|e| e.field_text(1)).as_deref(),
        Some("")
    );
}
