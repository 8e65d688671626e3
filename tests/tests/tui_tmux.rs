//! The real `apisix-tui` binary in a 120×40 tmux pane against a real gateway: it shows a route
//! created through the Admin API with the one live connection held through the gateway, opens
//! the help page on `?`, edits the route's raw JSON in the middle of a line (an inline error
//! with its line and JSON path appears as the port is typed out of range, goes when it is
//! fixed), saves through the Admin API (checked there), and on `q` exits with status 0 leaving
//! the terminal restored (alternate screen off, cursor visible, the shell's text back on
//! screen).

use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{Gateway, TEST_ADMIN_KEY};
use e2e::tmux::{shell_quote, Tmux};
use e2e::tools;
use serde_json::json;

/// How long the dashboard may take to show something (first frame, a refresh, an exit).
const SCREEN: Duration = Duration::from_secs(15);
/// How long a route write may take to reach the data path.
const APPLY: Duration = Duration::from_secs(5);
/// What the wrapper shell prints once the dashboard has exited.
const EXITED: &str = "tui exited with status";

/// The text in the column of `header` (as placed by the header row) on the first line that
/// contains `row_key`, trimmed. Columns are counted in characters (the borders are multi-byte).
fn cell(screen: &str, header: &str, row_key: &str, width: usize) -> Option<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let head = lines
        .iter()
        .find(|l| String::from_iter(l.iter()).contains(header))?;
    let head_text = String::from_iter(head.iter());
    let byte_at = head_text.find(header)?;
    let col = head_text[..byte_at].chars().count();
    let row = lines
        .iter()
        .find(|l| String::from_iter(l.iter()).contains(row_key))?;
    let end = (col + width).min(row.len());
    Some(
        String::from_iter(row.get(col..end)?.iter())
            .trim()
            .to_owned(),
    )
}

/// The dashboard command line for `gw`, wrapped in `sh` so the shell reports its exit status
/// and then keeps the pane open.
fn tui_command(gw: &Gateway) -> anyhow::Result<String> {
    let tui = tools::target_bin("apisix-tui", "APISIX_TUI_BIN")?;
    let cmd = format!(
        "{} --server {} --admin-key {} --control {} --refresh 200",
        shell_quote(&tui.to_string_lossy()),
        shell_quote(&gw.admin_base()),
        shell_quote(TEST_ADMIN_KEY),
        shell_quote(&gw.control_base()),
    );
    Ok(format!(
        "sh -c {}",
        shell_quote(&format!("{cmd}; echo \"{EXITED} $?\"; exec cat"))
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_live_route_help_and_quits_restoring_the_terminal() {
    tools::require(&["tmux"], "tmux").expect("tmux is needed for this test");
    let echo = TcpBackend::echo("echo").await;
    let gw = Gateway::start_default().await.expect("start gateway");
    let port = gw.tcp_addr(0).port();
    gw.put_ok(
        "/stream_routes/tui-e2e",
        json!({"server_port": port, "upstream": {"type": "roundrobin", "nodes": {echo.node(): 1}}}),
    )
    .await;
    let mut held = e2e::wait::until("a connection through the new route", APPLY, || async {
        let mut s = client::connect(gw.tcp_addr(0)).await.ok()?;
        client::echo_roundtrip(&mut s, b"hold").await.ok()?;
        Some(s)
    })
    .await
    .expect("route live");

    let tmux = Tmux::start(&tui_command(&gw).expect("tui binary"), gw.prefix(), 120, 40)
        .expect("start tmux");
    let screen = tmux
        .wait_for("route tui-e2e with ACT 1", SCREEN, |s| {
            cell(s, "ACT", "tui-e2e", 5).as_deref() == Some("1")
        })
        .await
        .expect("routes view shows the live connection");
    assert!(screen.contains(&format!(":{port}")), "{screen}");
    assert_eq!(
        tmux.display("#{alternate_on}").expect("display"),
        "1",
        "the dashboard draws on the alternate screen"
    );

    tmux.send_keys(&["?"]).expect("send ?");
    let help = tmux
        .wait_for("the help page", SCREEN, |s| {
            s.contains("Help (^ = ctrl)") && s.contains("quit at once")
        })
        .await
        .expect("help is shown");
    assert!(help.contains("KEY") && help.contains("ACTION"), "{help}");
    tmux.send_keys(&["Escape"]).expect("close help");
    tmux.wait_for("help closed", SCREEN, |s| !s.contains("Help (^ = ctrl)"))
        .await
        .expect("help closes on a key");

    edit_in_the_middle_see_the_error_fix_and_save(&tmux, &gw, port).await;

    tmux.send_keys(&["q"]).expect("send q");
    let after = tmux
        .wait_for("the dashboard to exit", SCREEN, |s| s.contains(EXITED))
        .await
        .expect("q quits");
    assert!(after.contains(&format!("{EXITED} 0")), "{after}");
    assert!(
        !after.contains("tui-e2e") && !after.contains("ACT"),
        "the dashboard's screen is gone: {after}"
    );
    assert_eq!(tmux.display("#{alternate_on}").expect("display"), "0");
    assert_eq!(
        tmux.display("#{cursor_flag}").expect("display"),
        "1",
        "cursor visible again"
    );
    assert!(tmux.has_session(), "the wrapper shell keeps the pane");

    // The held connection is untouched by the dashboard.
    client::echo_roundtrip(&mut held, b"still there")
        .await
        .expect("held connection still relays");
}

/// Opens the editor on the route, goes to raw JSON, types two digits inside the port number
/// (out of range: the inline error names the line and `$.server_port`), deletes them (the
/// error goes), types a `name` member at the head of the same line, saves with `^s`, and
/// checks the Admin API has the edit and the rest unchanged.
async fn edit_in_the_middle_see_the_error_fix_and_save(tmux: &Tmux, gw: &Gateway, port: u16) {
    tmux.send_keys(&["e"]).expect("send e");
    tmux.wait_for("the editor form", SCREEN, |s| {
        s.contains("Edit stream_route tui-e2e")
    })
    .await
    .expect("editor opens");
    tmux.send_keys(&["C-t"]).expect("send ^t");
    let raw = tmux
        .wait_for("the raw JSON", SCREEN, |s| s.contains("(raw JSON)"))
        .await
        .expect("raw JSON shown");
    let port_line = format!("\"server_port\": {port},");
    assert!(raw.contains(&port_line), "{raw}");
    // Line 2 is `  "server_port": <port>,`; the number starts at column 17.
    tmux.send_keys(&["Down", "Home"]).expect("move to line 2");
    for _ in 0..18 {
        tmux.send_keys(&["Right"]).expect("move right");
    }
    tmux.send_keys(&["7", "7"]).expect("type inside the number");
    let digits = port.to_string();
    let bad = format!("\"server_port\": {}77{},", &digits[..1], &digits[1..]);
    let error = tmux
        .wait_for("the inline error", SCREEN, |s| {
            s.contains(&bad) && s.contains("line 2 · $.server_port · invalid configuration")
        })
        .await
        .expect("inline error with its path while typing");
    eprintln!("editor with an inline error:\n{error}");
    tmux.send_keys(&["BSpace", "BSpace"])
        .expect("delete the digits");
    tmux.wait_for("the error gone", SCREEN, |s| {
        s.contains(&port_line) && !s.contains("✗")
    })
    .await
    .expect("the fix clears the error");
    tmux.send_keys(&["Home"]).expect("line head");
    tmux.send_keys(&["\"name\": \"via-tui\", "])
        .expect("type a member");
    tmux.wait_for("the edited line", SCREEN, |s| {
        s.contains(&format!("\"name\": \"via-tui\",   {port_line}"))
            || s.contains(&format!("\"name\": \"via-tui\", {port_line}"))
    })
    .await
    .expect("text inserted at the line head");
    tmux.send_keys(&["C-s"]).expect("send ^s");
    tmux.wait_for("the save", SCREEN, |s| {
        s.contains("stream_route tui-e2e saved")
    })
    .await
    .expect("saved through the Admin API");
    let stored = gw.get("/stream_routes/tui-e2e").await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let value = stored.json()["value"].clone();
    assert_eq!(value["name"], "via-tui", "{value}");
    assert_eq!(value["server_port"], port, "{value}");
    assert!(value["upstream"]["nodes"].is_object(), "{value}");
    tmux.wait_for("the routes view again", SCREEN, |s| {
        s.contains("tui-e2e via-tui")
    })
    .await
    .expect("back on the routes view with the new name");
}

/// Regenerates the screens of `docs/tui.md`: two routes (a stored upstream with two nodes and
/// an inline one) with live connections, each main view captured at 120×40 into
/// `$TUI_SCREENSHOTS_DIR` (default: the gateway prefix, printed). Run with
/// `cargo test -p e2e --test tui_tmux -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes documentation screenshots"]
async fn capture_screenshots_of_the_main_views() {
    tools::require(&["tmux"], "tmux").expect("tmux is needed for this test");
    let (db1, db2, cache) = (
        TcpBackend::echo("db1").await,
        TcpBackend::echo("db2").await,
        TcpBackend::echo("cache").await,
    );
    let gw = Gateway::start(e2e::gateway::GatewayConfig::with_listeners(2, 1))
        .await
        .expect("start gateway");
    gw.put_ok(
        "/upstreams/1",
        json!({"name": "mysql-pool", "type": "roundrobin",
               "nodes": {db1.node(): 1, db2.node(): 1}}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/1",
        json!({"name": "mysql", "server_port": gw.tcp_addr(0).port(), "upstream_id": "1"}),
    )
    .await;
    gw.put_ok(
        "/stream_routes/2",
        json!({"name": "cache", "server_port": gw.tcp_addr(1).port(),
               "upstream": {"type": "roundrobin", "nodes": {cache.node(): 1}}}),
    )
    .await;
    let mut held = Vec::new();
    for (listener, count) in [(0, 3), (1, 1)] {
        for i in 0..count {
            let mut s = e2e::wait::until("a connection through the gateway", APPLY, || async {
                let mut s = client::connect(gw.tcp_addr(listener)).await.ok()?;
                client::echo_roundtrip(&mut s, b"hello").await.ok()?;
                Some(s)
            })
            .await
            .expect("route live");
            let payload = vec![b'x'; 4096 * (i + 1)];
            client::echo_roundtrip(&mut s, &payload)
                .await
                .expect("echo");
            held.push(s);
        }
    }
    // Steady traffic, so the rates and sparklines have something to show.
    let traffic = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            for (i, s) in held.iter_mut().enumerate() {
                let _ = client::echo_roundtrip(s, &vec![b'y'; 512 * (i + 1)]).await;
            }
        }
    });
    e2e::wait::until(
        "ten seconds of throughput",
        Duration::from_secs(30),
        || async {
            let routes = gw.control_get("/v1/stream_routes/1").await.try_json()?;
            let series = routes
                .pointer("/stats/throughput/bytes_in")?
                .as_array()?
                .clone();
            (series.iter().filter(|v| v.as_u64() > Some(0)).count() >= 10).then_some(())
        },
    )
    .await
    .expect("traffic flows");
    let out = std::env::var_os("TUI_SCREENSHOTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| gw.prefix().join("screens"));
    std::fs::create_dir_all(&out).expect("screenshot dir");

    let tmux = Tmux::start(&tui_command(&gw).expect("tui binary"), gw.prefix(), 120, 40)
        .expect("start tmux");
    let shots: [(&str, &[&str], &str); 5] = [
        ("routes", &[], "mysql"),
        ("route-detail", &["Enter"], " Route 1 "),
        (
            "upstreams",
            &["Escape", ":", "upstreams", "Enter"],
            "mysql-pool",
        ),
        ("connections", &[":", "conns", "Enter"], "c-"),
        ("help", &["?"], "Help (^ = ctrl)"),
    ];
    for (name, keys, marker) in shots {
        if !keys.is_empty() {
            tmux.send_keys(keys).expect("send keys");
        }
        let screen = tmux
            .wait_for(name, SCREEN, |s| {
                s.contains(marker)
                    && cell(s, "ACT", "1 mysql", 5).is_none_or(|a| a == "3")
                    && cell(s, "IN/s", "1 mysql", 7).is_none_or(|r| r != "0 B/s")
            })
            .await
            .expect("view shown");
        std::fs::write(out.join(format!("{name}.txt")), &screen).expect("write screenshot");
    }
    eprintln!("screenshots in {}", out.display());
    traffic.abort();
}

/// The pid of the `apisix-tui` talking to `admin_base` (its command line names the URL).
fn tui_pid(admin_base: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_tui = args.first().is_some_and(|a| a.ends_with(b"apisix-tui"));
            let ours = args.contains(&admin_base.as_bytes());
            (is_tui && ours).then_some(pid)
        })
}

/// Whether process `pid` still runs (a zombie waiting for its reaper has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        state.flatten().is_some_and(|s| s != 'Z' && s != 'X')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_ends_when_its_terminal_goes_away() {
    tools::require(&["tmux"], "tmux").expect("tmux is needed for this test");
    let gw = Gateway::start_default().await.expect("start gateway");
    let tmux = Tmux::start(&tui_command(&gw).expect("tui binary"), gw.prefix(), 100, 30)
        .expect("start tmux");
    tmux.wait_for("the dashboard", SCREEN, |s| s.contains("Routes"))
        .await
        .expect("dashboard drawn");
    let pid = tui_pid(&gw.admin_base()).expect("the dashboard's process");
    // Killing the tmux server closes the dashboard's terminal, as a dropped ssh session does.
    drop(tmux);
    let ended = e2e::wait::until("the dashboard to end", Duration::from_secs(5), || async {
        (!running(pid)).then_some(())
    })
    .await;
    if ended.is_err() {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    ended.expect("the dashboard ends once its terminal is gone (it used to spin on EOF)");
}
