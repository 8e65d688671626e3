//! Render tests: the fixture data drawn into a `TestBackend` at 80x24 and 120x40 and
//! compared with committed insta snapshots, plus checks on text that must (not) appear.

mod common;

use apisix_tui::app::App;
use apisix_tui::event::Event;
use apisix_tui::handle_event;
use apisix_tui::render::render;
use apisix_tui::source::TestOutcome;
use common::{app, app_with, ctrl, press, typing};
use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|f| render(f, app)).expect("draw");
    terminal
}

fn text(app: &App, width: u16, height: u16) -> String {
    draw(app, width, height).backend().to_string()
}

fn snap(name: &str, app: &App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(app, w, h).backend());
    }
}

#[test]
fn routes_view() {
    let app = app();
    snap("routes", &app);
    let small = text(&app, 80, 24);
    assert!(small.contains("mysql") && small.contains(":9100 sni=db.ex"));
    assert!(small.contains("UPSTREAM") && small.contains("inline"));
    assert!(text(&app, 120, 40).contains("sni=db.example.com"));
}

#[test]
fn route_detail_view() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    snap("route_detail", &app);
    let small = text(&app, 80, 24);
    assert!(small.contains("Throughput") && small.contains("127.0.0.2:3306"));
    assert!(small.contains("DOWN"), "the unhealthy node is marked");
}

#[test]
fn upstreams_view() {
    let mut app = app();
    typing(&mut app, ":upstreams");
    press(&mut app, KeyCode::Enter);
    snap("upstreams", &app);
}

#[test]
fn connections_view() {
    let mut app = app();
    typing(&mut app, ":conns");
    press(&mut app, KeyCode::Enter);
    snap("connections", &app);
    assert!(text(&app, 80, 24).contains("1h01m"));
}

#[test]
fn editor_view_with_server_error() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 's');
    let msg = "failed to fetch upstream info by upstream id [1], response code: 404";
    handle_event(
        &mut app,
        Event::Saved {
            id: "1".into(),
            result: Err(msg.into()),
        },
    );
    snap("editor_error", &app);
    assert!(text(&app, 80, 24).contains("response code: 404"));
}

#[test]
fn editor_view_raw_json() {
    let mut app = app();
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 't');
    snap("editor_raw", &app);
    assert!(text(&app, 80, 24).contains("\"chash\""));
}

#[test]
fn tester_view_with_result() {
    let mut app = app();
    press(&mut app, KeyCode::Char('t'));
    typing(&mut app, "ping");
    press(&mut app, KeyCode::Enter);
    let outcome = TestOutcome {
        connect_ms: Some(0.42),
        rtt_ms: Some(1.5),
        reply: Some("pong\n".into()),
        routed_to: Some("1".into()),
        upstream: Some("127.0.0.1:3306".into()),
        error: None,
    };
    handle_event(&mut app, Event::Tested(outcome));
    snap("tester", &app);
    assert!(text(&app, 80, 24).contains("PASS"));
}

#[test]
fn help_overlay_lists_the_keymap() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    snap("help", &app);
    let big = text(&app, 120, 40);
    assert!(big.contains("kill the connection") && big.contains("^s"));
}

#[test]
fn readonly_hides_write_keys_in_footer_and_help() {
    let mut app = app_with(true);
    insta::assert_snapshot!("routes_readonly_80x24", draw(&app, 80, 24).backend());
    let small = text(&app, 80, 24);
    assert!(small.contains("read-only"));
    assert!(!small.contains(" new") && !small.contains("delete"));
    press(&mut app, KeyCode::Char('?'));
    let help = text(&app, 120, 40);
    assert!(!help.contains("^d") && !help.contains("^s"));
}

#[test]
fn confirm_dialog_over_routes() {
    let mut app = app();
    ctrl(&mut app, 'd');
    insta::assert_snapshot!("confirm_delete_80x24", draw(&app, 80, 24).backend());
    assert!(text(&app, 80, 24).contains("delete stream_route 1?"));
}

#[test]
fn disconnected_header_and_error_line() {
    let mut app = app();
    handle_event(
        &mut app,
        Event::FetchFailed("http://127.0.0.1:9090/v1/status: connection refused".into()),
    );
    insta::assert_snapshot!("disconnected_80x24", draw(&app, 80, 24).backend());
    assert!(text(&app, 80, 24).contains("disconnected — retrying"));
}

#[test]
fn filter_prompt_in_status_line() {
    let mut app = app();
    typing(&mut app, "/mys");
    insta::assert_snapshot!("filter_prompt_80x24", draw(&app, 80, 24).backend());
}

#[test]
fn empty_app_renders_while_connecting() {
    let app = App::new(apisix_tui::AppConfig::default());
    let small = text(&app, 80, 24);
    assert!(small.contains("connecting") && small.contains("Routes (0)"));
}

#[test]
fn every_view_survives_tiny_and_huge_terminals() {
    let mut app = app();
    let steps: [&dyn Fn(&mut App); 7] = [
        &|_| {},
        &|a| drop(press(a, KeyCode::Enter)),
        &|a| drop(press(a, KeyCode::Char('t'))),
        &|a| drop(press(a, KeyCode::Esc)),
        &|a| drop(press(a, KeyCode::Char('e'))),
        &|a| drop(ctrl(a, 't')),
        &|a| drop(press(a, KeyCode::Char('?'))),
    ];
    for step in steps {
        step(&mut app);
        for (w, h) in [(1, 1), (20, 5), (40, 10), (200, 60)] {
            let screen = text(&app, w, h);
            assert_eq!(screen.lines().count(), h as usize);
        }
    }
    for view in [":upstreams", ":conns"] {
        let mut app = common::app();
        typing(&mut app, view);
        press(&mut app, KeyCode::Enter);
        for (w, h) in [(1, 1), (20, 5), (200, 60)] {
            assert_eq!(text(&app, w, h).lines().count(), h as usize);
        }
    }
}

#[test]
fn header_shows_the_tls_state_and_a_tls_failure_shows_its_reason() {
    let mut app = App::new(apisix_tui::app::AppConfig {
        tls_label: Some("mTLS".into()),
        ..apisix_tui::app::AppConfig::default()
    });
    handle_event(
        &mut app,
        Event::Data(std::sync::Arc::new(common::snapshot())),
    );
    let screen = text(&app, 120, 40);
    let header = screen.lines().next().unwrap_or_default().to_owned();
    assert!(
        header.contains("● connected") && header.contains("│ mTLS"),
        "{header}"
    );
    handle_event(
        &mut app,
        Event::FetchFailed(
            "https://gw:9090/v1/status: tls: certificate problem: unknown issuer".into(),
        ),
    );
    let screen = text(&app, 120, 40);
    assert!(
        screen.contains("certificate problem: unknown issuer"),
        "{screen}"
    );
    assert!(!text(&common::app(), 120, 40).contains("mTLS"));
}

#[test]
fn routes_view_marks_shadowed_routes() {
    let mut app = app();
    let route = app
        .snapshot
        .routes
        .iter_mut()
        .find(|r| r.id == "2")
        .expect("fixture route 2");
    route.shadowed_by = vec!["1".into()];
    snap("routes_shadowed", &app);
    let small = text(&app, 80, 24);
    assert!(
        small.contains("⊘ 2") && small.contains("shadowed by 1"),
        "{small}"
    );
    assert!(small.contains("⊘ 1 shadowed"), "{small}");
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    let detail = text(&app, 120, 40);
    assert!(
        detail.contains("shadowed by stream_route 1: it never matches"),
        "{detail}"
    );
}

#[test]
fn editor_view_shows_a_live_problem_under_its_field() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::End);
    typing(&mut app, "0");
    snap("editor_live_problem", &app);
    let small = text(&app, 80, 24);
    assert!(small.contains("91000"), "{small}");
    assert!(
        small.contains("↳ $.server_port · invalid configuration:"),
        "{small}"
    );
}

#[test]
fn editor_view_shows_a_raw_json_problem_with_its_line_and_path() {
    let mut app = app();
    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 't');
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Left);
    typing(&mut app, "0");
    snap("editor_raw_problem", &app);
    let big = text(&app, 120, 40);
    assert!(big.contains("\"server_port\": 91000,"), "{big}");
    assert!(big.contains("✗ line 4 · $.server_port · "), "{big}");
}
