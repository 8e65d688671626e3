//! Runs the real `apisixctl` binary against the in-process Admin API double
//! (`support::MockAdmin`): put results, create/patch/edit, server errors, key lookup,
//! apply/diff/sync/dump, tables.

mod support;

use serde_json::{json, Value};
use support::{apisixctl, tmp, with_server, MockAdmin, KEY};
use testkit::ctl::ctl_command;

#[test]
fn put_reports_created_then_unchanged_then_updated() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let args = [
        "sr",
        "put",
        "1",
        "--server-port",
        "9100",
        "--node",
        "127.0.0.1:3306=2",
    ];
    let first = apisixctl(dir.path(), &with_server(&mock, &args));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout.trim(), "stream_routes/1 created");
    let stored = mock.get("stream_routes", "1").expect("stored");
    assert_eq!(stored["upstream"]["nodes"], json!({"127.0.0.1:3306": 2}));

    let puts = mock.count("PUT");
    let again = apisixctl(dir.path(), &with_server(&mock, &args));
    assert_eq!(again.stdout.trim(), "stream_routes/1 unchanged");
    assert_eq!(mock.count("PUT"), puts, "unchanged must not write");

    let changed = apisixctl(
        dir.path(),
        &with_server(&mock, &["sr", "put", "1", "--server-port", "9101"]),
    );
    assert_eq!(changed.stdout.trim(), "stream_routes/1 updated");
}

#[test]
fn server_errors_print_status_and_message() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let missing = apisixctl(
        dir.path(),
        &with_server(&mock, &["upstream", "get", "nope"]),
    );
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stderr.trim(), "error: 404 Key not found");

    let put = apisixctl(
        dir.path(),
        &with_server(&mock, &["sr", "put", "1", "--upstream-id", "1"]),
    );
    assert_eq!(put.code, 0, "{}", put.stderr);
    mock.insert("upstreams", "1", json!({"nodes": {"127.0.0.1:1": 1}}));
    let refused = apisixctl(
        dir.path(),
        &with_server(&mock, &["upstream", "delete", "1"]),
    );
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr.trim(),
        "error: 400 can not delete this upstream, stream_route [x] is still using it now"
    );
    let forced = apisixctl(
        dir.path(),
        &with_server(&mock, &["upstream", "delete", "1", "--force"]),
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(forced.stdout.trim(), "upstreams/1 deleted");
    assert!(mock.get("upstreams", "1").is_none());

    let wrong_key = apisixctl(
        dir.path(),
        &[
            "--server",
            &mock.url,
            "--admin-key",
            "bad",
            "upstream",
            "list",
        ],
    );
    assert_eq!(wrong_key.code, 1);
    assert_eq!(
        wrong_key.stderr.trim(),
        "error: 401 failed to check token: wrong apikey"
    );
}

#[test]
fn key_file_in_working_directory_is_used_without_flags() {
    let mock = MockAdmin::start();
    let dir = tmp();
    std::fs::create_dir_all(dir.path().join("conf")).expect("mkdir");
    std::fs::write(dir.path().join("conf/admin_key"), format!("{KEY}\n")).expect("write");
    let run = apisixctl(
        dir.path(),
        &["--server", &mock.url, "upstream", "list", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("json"),
        json!([])
    );
}

const DECLARED: &str = "\
upstreams:
  - id: u1
    nodes: {\"127.0.0.1:3306\": 1}
    labels: {team: core}
stream_routes:
  - id: 1
    server_port: 9100
    upstream_id: u1
    labels: {team: core}
#END
";

#[test]
fn diff_apply_diff_cycle_converges() {
    let mock = MockAdmin::start();
    let dir = tmp();
    std::fs::write(dir.path().join("gw.yaml"), DECLARED).expect("write");
    let before = apisixctl(dir.path(), &with_server(&mock, &["diff", "-f", "gw.yaml"]));
    assert_eq!(before.code, 1, "{}", before.stderr);
    assert!(
        before.stdout.contains("+++ file stream_routes/1"),
        "{}",
        before.stdout
    );
    assert!(
        before.stdout.contains("+server_port: 9100"),
        "{}",
        before.stdout
    );

    let apply = apisixctl(dir.path(), &with_server(&mock, &["apply", "-f", "gw.yaml"]));
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(
        apply.stdout,
        "upstreams/u1 created\nstream_routes/1 created\n"
    );

    let after = apisixctl(dir.path(), &with_server(&mock, &["diff", "-f", "gw.yaml"]));
    assert_eq!(after.code, 0, "{}", after.stdout);
    let again = apisixctl(dir.path(), &with_server(&mock, &["apply", "-f", "gw.yaml"]));
    assert_eq!(
        again.stdout,
        "upstreams/u1 unchanged\nstream_routes/1 unchanged\n"
    );

    mock.insert(
        "stream_routes",
        "1",
        json!({"server_port": 9999, "upstream_id": "u1", "labels": {"team": "core"}}),
    );
    let drift = apisixctl(dir.path(), &with_server(&mock, &["diff", "-f", "gw.yaml"]));
    assert_eq!(drift.code, 1);
    assert!(
        drift
            .stdout
            .contains("-server_port: 9999\n+server_port: 9100"),
        "{}",
        drift.stdout
    );
}

#[test]
fn sync_prunes_only_within_the_selector() {
    let mock = MockAdmin::start();
    let dir = tmp();
    std::fs::write(dir.path().join("gw.yaml"), DECLARED).expect("write");
    mock.insert(
        "stream_routes",
        "old-core",
        json!({"server_port": 1, "labels": {"team": "core"}}),
    );
    mock.insert(
        "stream_routes",
        "other-team",
        json!({"server_port": 2, "labels": {"team": "edge"}}),
    );

    let dry = apisixctl(
        dir.path(),
        &with_server(
            &mock,
            &[
                "sync",
                "-f",
                "gw.yaml",
                "--prune",
                "--selector",
                "team=core",
                "--dry-run",
            ],
        ),
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("stream_routes/old-core would be deleted"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        mock.count("PUT") + mock.count("DELETE"),
        0,
        "dry run writes nothing"
    );

    let no_prune = apisixctl(dir.path(), &with_server(&mock, &["sync", "-f", "gw.yaml"]));
    assert_eq!(no_prune.code, 0);
    assert!(
        mock.get("stream_routes", "old-core").is_some(),
        "no --prune, no delete"
    );

    let run = apisixctl(
        dir.path(),
        &with_server(
            &mock,
            &[
                "sync",
                "-f",
                "gw.yaml",
                "--prune",
                "--selector",
                "team=core",
            ],
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(mock.get("stream_routes", "old-core").is_none());
    assert!(mock.get("stream_routes", "other-team").is_some());
    assert!(mock.get("stream_routes", "1").is_some());
}

#[test]
fn dump_writes_a_standalone_file_without_timestamps() {
    let mock = MockAdmin::start();
    let dir = tmp();
    mock.insert(
        "upstreams",
        "u1",
        json!({"nodes": {"127.0.0.1:1": 1}, "labels": {"team": "core"}}),
    );
    mock.insert("upstreams", "u2", json!({"nodes": {"127.0.0.1:2": 1}}));
    let run = apisixctl(
        dir.path(),
        &with_server(
            &mock,
            &["dump", "--file", "out.yaml", "--selector", "team=core"],
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.path().join("out.yaml")).expect("dumped");
    assert!(text.ends_with("#END\n"), "{text}");
    assert!(text.contains("stream_routes: []"), "{text}");
    assert!(text.contains("id: u1") && !text.contains("u2"), "{text}");
    assert!(!text.contains("create_time"), "{text}");
    let check = apisixctl(dir.path(), &["validate", "-f", "out.yaml"]);
    assert_eq!(check.code, 0, "dump output validates: {}", check.stderr);
}

#[test]
fn list_tables_are_aligned_and_wide_adds_columns() {
    let mock = MockAdmin::start();
    let dir = tmp();
    mock.insert(
        "stream_routes",
        "1",
        json!({"server_port": 9100, "remote_addr": "10.0.0.0/8", "upstream_id": "u1"}),
    );
    let narrow = apisixctl(dir.path(), &with_server(&mock, &["sr", "list"]));
    assert_eq!(narrow.code, 0, "{}", narrow.stderr);
    assert_eq!(
        narrow.stdout,
        "ID  NAME  SERVER_PORT  SNI  UPSTREAM\n1   -     9100         -    upstream/u1\n"
    );
    let wide = apisixctl(
        dir.path(),
        &with_server(&mock, &["sr", "list", "-o", "wide"]),
    );
    assert!(
        wide.stdout
            .starts_with("ID  NAME  REMOTE_ADDR  SERVER_ADDR  SERVER_PORT"),
        "{}",
        wide.stdout
    );
    assert!(wide.stdout.contains("10.0.0.0/8"));
}

#[test]
fn edit_puts_what_the_editor_saved() {
    let mock = MockAdmin::start();
    let dir = tmp();
    mock.insert("stream_routes", "1", json!({"server_port": 9100}));
    let mut cmd = ctl_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_apisixctl")),
        dir.path(),
        &with_server(&mock, &["sr", "edit", "1"]),
        &[("VISUAL", "sed -i s/9100/9200/")],
        false,
    );
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "stream_routes/1 updated"
    );
    let stored = mock.get("stream_routes", "1").expect("stored");
    assert_eq!(stored["server_port"], 9200);

    let untouched = cmd.env("VISUAL", "true").output().expect("runs");
    assert!(String::from_utf8_lossy(&untouched.stdout).contains("unchanged (no edits)"));
}

#[test]
fn create_posts_and_patch_merges() {
    let mock = MockAdmin::start();
    let dir = tmp();
    let created = apisixctl(
        dir.path(),
        &with_server(
            &mock,
            &["upstream", "create", "--node", "127.0.0.1:1", "-o", "json"],
        ),
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let out: Value = serde_json::from_str(&created.stdout).expect("json");
    assert_eq!(out["result"], "created");
    let id = out["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 20);

    let patch_file = dir.path().join("p.yaml");
    std::fs::write(&patch_file, "retries: 3\n").expect("write");
    let patched = apisixctl(
        dir.path(),
        &with_server(&mock, &["upstream", "patch", &id, "-f", "p.yaml"]),
    );
    assert_eq!(patched.code, 0, "{}", patched.stderr);
    assert_eq!(mock.get("upstreams", &id).expect("stored")["retries"], 3);

    mock.insert("stream_routes", "1", json!({}));
    let refused = apisixctl(
        dir.path(),
        &with_server(&mock, &["sr", "patch", "1", "-f", "p.yaml"]),
    );
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr.trim(),
        "error: 405 not supported `PATCH` method for stream route"
    );
}
