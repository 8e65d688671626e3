//! `apisixctl` against the real gateway: resource writes (`created`/`unchanged`/`updated`),
//! server errors, the declarative commands (`apply`, `diff`, `sync --prune --selector`, `dump`
//! round-tripped onto a second gateway, `validate`). The Control API commands are in
//! `cli_apisixctl_live.rs`. Assertions are on the binary's exit code and its stdout/stderr.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::backends::TcpBackend;
use e2e::client;
use e2e::gateway::{run_ctl, CtlRun, Gateway, GatewayConfig};
use serde_json::{json, Value};

/// How long a route write may take to reach the data path.
const APPLY: Duration = Duration::from_secs(5);

fn assert_run(run: &CtlRun, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code\n{run}");
}

/// Every stored object as `key -> value` without `create_time`/`update_time`.
async fn objects(gw: &Gateway) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for res in [
        "stream_routes",
        "upstreams",
        "services",
        "ssls",
        "plugin_metadata",
    ] {
        let reply = gw.get(&format!("/{res}")).await;
        assert_eq!(reply.status, 200, "GET /{res}: {}", reply.text);
        for item in reply.json()["list"].as_array().cloned().unwrap_or_default() {
            let mut value = item["value"].clone();
            if let Some(map) = value.as_object_mut() {
                map.remove("create_time");
                map.remove("update_time");
            }
            let key = item["key"].as_str().expect("list item key").to_owned();
            out.insert(key, value);
        }
    }
    out
}

#[tokio::test]
async fn put_reports_created_unchanged_updated_and_server_errors_exit_1() {
    let gw = Gateway::start_default().await.expect("start gateway");
    let backend = TcpBackend::greeting("echo").await;
    let port = gw.config.tcp_ports[0].to_string();
    let node = backend.node();
    let put = ["sr", "put", "echo", "--server-port", &port, "--node", &node];

    let first = gw.ctl(&put).await;
    assert_run(&first, 0);
    assert_eq!(first.stdout, "stream_routes/echo created\n");
    let again = gw.ctl(&put).await;
    assert_run(&again, 0);
    assert_eq!(again.stdout, "stream_routes/echo unchanged\n");
    let mut renamed = put.to_vec();
    renamed.extend(["--name", "echo-v2", "--label", "team=core"]);
    let changed = gw.ctl(&renamed).await;
    assert_run(&changed, 0);
    assert_eq!(changed.stdout, "stream_routes/echo updated\n");
    let stored = gw.get("/stream_routes/echo").await.json();
    assert_eq!(stored["value"]["name"], "echo-v2");
    assert_eq!(stored["value"]["labels"]["team"], "core");

    let list = gw.ctl(&["sr", "list"]).await;
    assert_run(&list, 0);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].starts_with("ID"), "{list}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row, ["echo", "echo-v2", &port, "-", &format!("{node}(1)")]);

    let bad = gw
        .ctl(&["sr", "put", "bad", "--server-port", "0", "--node", &node])
        .await;
    assert_run(&bad, 1);
    assert_eq!(
        bad.stderr.trim(),
        "error: 400 invalid configuration: property \"server_port\" validation failed: \
         expected 0 to be at least 1"
    );
    assert_eq!(gw.get("/stream_routes/bad").await.status, 404);
    let missing = gw.ctl(&["sr", "get", "nope"]).await;
    assert_run(&missing, 1);
    assert_eq!(missing.stderr.trim(), "error: 404 Key not found");

    gw.put_ok("/upstreams/u1", json!({"nodes": {node.as_str(): 1}}))
        .await;
    let user = gw
        .ctl(&[
            "sr",
            "put",
            "user",
            "--server-port",
            &port,
            "--upstream-id",
            "u1",
        ])
        .await;
    assert_run(&user, 0);
    let in_use = gw.ctl(&["upstream", "delete", "u1"]).await;
    assert_run(&in_use, 1);
    assert_eq!(
        in_use.stderr.trim(),
        "error: 400 can not delete this upstream, stream_route [user] is still using it now"
    );
}

#[tokio::test]
async fn apply_then_diff_is_clean_and_a_changed_file_shows_the_change() {
    let gw = Gateway::start(GatewayConfig::with_listeners(2, 0))
        .await
        .expect("start gateway");
    let backend = TcpBackend::greeting("b").await;
    let (p0, p1) = (gw.config.tcp_ports[0], gw.config.tcp_ports[1]);
    let file = gw.prefix().join("declared.yaml");
    let write = |port: u16| {
        std::fs::write(
            &file,
            format!(
                "upstreams:\n  - id: u1\n    nodes: {{\"{}\": 1}}\n    labels: {{team: core}}\n\
                 stream_routes:\n  - id: r1\n    server_port: {port}\n    upstream_id: u1\n\
                 #END\n",
                backend.node()
            ),
        )
        .expect("write the declared file")
    };
    write(p0);

    let before = gw.ctl(&["diff", "-f", "declared.yaml"]).await;
    assert_run(&before, 1);
    assert!(
        before.stdout.contains("+++ file stream_routes/r1"),
        "{before}"
    );
    let apply = gw.ctl(&["apply", "-f", "declared.yaml"]).await;
    assert_run(&apply, 0);
    assert_eq!(
        apply.stdout,
        "upstreams/u1 created\nstream_routes/r1 created\n"
    );
    let again = gw.ctl(&["apply", "-f", "declared.yaml"]).await;
    assert_eq!(
        again.stdout,
        "upstreams/u1 unchanged\nstream_routes/r1 unchanged\n"
    );
    let clean = gw.ctl(&["diff", "-f", "declared.yaml"]).await;
    assert_run(&clean, 0);
    assert_eq!(clean.stdout, "in sync (2 objects)\n");
    client::wait_for_greeting(gw.tcp_addr(0), "b", APPLY)
        .await
        .expect("the applied route carries traffic");

    write(p1);
    let drift = gw.ctl(&["diff", "-f", "declared.yaml"]).await;
    assert_run(&drift, 1);
    assert_eq!(
        drift.stdout,
        format!(
            "--- server stream_routes/r1\n+++ file stream_routes/r1\n\
             -server_port: {p0}\n+server_port: {p1}\n"
        )
    );
    let json_diff = gw.ctl(&["diff", "-f", "declared.yaml", "-o", "json"]).await;
    assert_run(&json_diff, 1);
    let report: Value = serde_json::from_str(&json_diff.stdout).expect("diff -o json");
    assert_eq!(report["in_sync"], false);
    let update = gw.ctl(&["apply", "-f", "declared.yaml"]).await;
    assert!(
        update.stdout.contains("stream_routes/r1 updated"),
        "{update}"
    );
    assert_run(&gw.ctl(&["diff", "-f", "declared.yaml"]).await, 0);
    client::wait_for_greeting(gw.tcp_addr(1), "b", APPLY)
        .await
        .expect("the moved route carries traffic on the second listener");
}

#[tokio::test]
async fn sync_prune_deletes_only_within_the_selector() {
    let gw = Gateway::start_default().await.expect("start gateway");
    let node = "127.0.0.1:1";
    for (id, labels) in [
        ("core-a", json!({"team": "core"})),
        ("core-b", json!({"team": "core"})),
        ("edge", json!({"team": "edge"})),
    ] {
        gw.put_ok(
            &format!("/stream_routes/{id}"),
            json!({"labels": labels, "server_port": 7000, "upstream": {"nodes": {node: 1}}}),
        )
        .await;
    }
    gw.put_ok(
        "/stream_routes/plain",
        json!({"server_port": 7001, "upstream": {"nodes": {node: 1}}}),
    )
    .await;
    let file = gw.prefix().join("core.yaml");
    std::fs::write(
        &file,
        format!(
            "stream_routes:\n  - id: core-a\n    server_port: 7002\n    labels: {{team: core}}\n    \
             upstream: {{nodes: {{\"{node}\": 1}}}}\n#END\n"
        ),
    )
    .expect("write file");

    let dry = gw
        .ctl(&[
            "sync",
            "-f",
            "core.yaml",
            "--prune",
            "-l",
            "team=core",
            "--dry-run",
        ])
        .await;
    assert_run(&dry, 0);
    assert_eq!(
        dry.stdout,
        "stream_routes/core-a would be updated\nstream_routes/core-b would be deleted\n"
    );
    assert_eq!(gw.get("/stream_routes/core-b").await.status, 200);

    let sync = gw
        .ctl(&[
            "sync",
            "-f",
            "core.yaml",
            "--prune",
            "--selector",
            "team=core",
        ])
        .await;
    assert_run(&sync, 0);
    assert_eq!(
        sync.stdout,
        "stream_routes/core-a updated\nstream_routes/core-b deleted\n"
    );
    assert_eq!(gw.get("/stream_routes/core-b").await.status, 404);
    let kept = gw.get("/stream_routes/core-a").await.json();
    assert_eq!(kept["value"]["server_port"], 7002);
    for outside in ["edge", "plain"] {
        let reply = gw.get(&format!("/stream_routes/{outside}")).await;
        assert_eq!(reply.status, 200, "{outside} is outside the selector");
    }
}

#[tokio::test]
async fn dump_applied_to_a_second_gateway_recreates_identical_objects() {
    let source = Gateway::start_default()
        .await
        .expect("start source gateway");
    let target = Gateway::start_default()
        .await
        .expect("start target gateway");
    source
        .put_ok(
            "/upstreams/u1",
            json!({"type": "chash", "hash_on": "vars", "key": "remote_addr",
                   "nodes": {"127.0.0.1:3306": 1, "127.0.0.1:3307": 2},
                   "retries": 1, "labels": {"team": "db"}, "name": "mysql"}),
        )
        .await;
    source
        .put_ok(
            "/services/s1",
            json!({"upstream_id": "u1", "desc": "database",
                   "plugins": {"ip-restriction": {"whitelist": ["127.0.0.0/8"]}}}),
        )
        .await;
    source
        .put_ok(
            "/stream_routes/r1",
            json!({"service_id": "s1", "server_port": 9100, "remote_addr": "127.0.0.1"}),
        )
        .await;
    source
        .put_ok(
            "/stream_routes/r2",
            json!({"server_addr": "127.0.0.1", "server_port": 9101,
                   "plugins": {"limit-conn": {"conn": 5, "burst": 1,
                                              "default_conn_delay": 0.1, "key": "remote_addr"}},
                   "upstream": {"nodes": [{"host": "127.0.0.1", "port": 5432, "weight": 1}]}}),
        )
        .await;
    source
        .put_ok(
            "/plugin_metadata/syslog",
            json!({"log_format": {"client": "$remote_addr"}}),
        )
        .await;

    let dump = source.ctl(&["dump", "--file", "dumped.yaml"]).await;
    assert_run(&dump, 0);
    let dumped = source.prefix().join("dumped.yaml");
    let text = std::fs::read_to_string(&dumped).expect("dump wrote the file");
    assert!(text.ends_with("#END\n"), "{text}");
    assert!(!text.contains("create_time"), "{text}");

    let path = dumped.to_str().expect("utf-8 temp path");
    let apply = target.ctl(&["apply", "-f", path]).await;
    assert_run(&apply, 0);
    assert_eq!(apply.stdout.matches(" created\n").count(), 5, "{apply}");
    let (want, got) = (objects(&source).await, objects(&target).await);
    assert_eq!(want.len(), 5, "{want:#?}");
    assert_eq!(got, want);
    let diff = target.ctl(&["diff", "-f", path]).await;
    assert_run(&diff, 0);
}

#[tokio::test]
async fn validate_names_each_bad_field_with_the_model_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "upstreams:\n  - id: u1\n    nodes: {\"127.0.0.1:80\": 1}\n\
         stream_routes:\n  - id: r1\n    server_port: 0\n    upstream_id: u1\n\
         \x20 - id: r2\n    upstream_id: missing\n\
         \x20 - id: r3\n    server_port: 9100\n    upstream_id: u1\n    plugins: {no-such-plugin: {}}\n\
         \x20 - id: r4\n    remote_addr: \"10.0.0.0/40\"\n    upstream_id: u1\n\
         \x20 - id: r5\n    upstream_id: u1\n    plugins: {limit-conn: {burst: 1}}\n\
         #END\n",
    )
    .expect("write file");
    let run = run_ctl(dir.path(), &["validate", "-f", "bad.yaml"], None).await;
    assert_run(&run, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "stream_routes[0] (id r1): property \"server_port\" validation failed: \
             expected 0 to be at least 1",
            "stream_routes[1] (id r2): failed to fetch upstream info by upstream id [missing], \
             response code: 404",
            "stream_routes[2] (id r3): unknown plugin [no-such-plugin]",
            "stream_routes[3] (id r4): property \"remote_addr\" validation failed: \
             object matches none of the required",
            "stream_routes[4] (id r5): failed to check the configuration of stream plugin \
             [limit-conn]: property \"conn\" is required",
            "invalid: 5 errors",
        ],
        "{run}"
    );
    std::fs::write(
        dir.path().join("good.yaml"),
        "stream_routes:\n  - id: r1\n    server_port: 9100\n    upstream: {nodes: {\"127.0.0.1:80\": 1}}\n#END\n",
    )
    .expect("write file");
    let good = run_ctl(dir.path(), &["validate", "-f", "good.yaml"], None).await;
    assert_run(&good, 0);
    assert_eq!(good.stdout, "valid: 1 objects\n");
}

/// `run` printed `warning` on stderr.
fn assert_warns(run: &CtlRun, warning: &str) {
    assert!(run.stderr.contains(warning), "no {warning:?} in\n{run}");
}

/// A file whose second route can never match: the first takes every connection to the port.
fn shadowing_file(port: u16, node: &str) -> String {
    format!(
        "upstreams:\n  - id: u1\n    nodes: {{\"{node}\": 1}}\n\
         stream_routes:\n  - id: wide\n    server_port: {port}\n    upstream_id: u1\n\
         \x20 - id: narrow\n    server_port: {port}\n    remote_addr: 127.0.0.0/8\n    upstream_id: u1\n\
         #END\n"
    )
}

#[tokio::test]
async fn shadowed_routes_are_warned_about_listed_and_explained() {
    let gw = Gateway::start_default().await.expect("start gateway");
    let backend = TcpBackend::greeting("wide").await;
    let port = gw.tcp_addr(0).port();
    std::fs::write(
        gw.prefix().join("shadow.yaml"),
        shadowing_file(port, &backend.node()),
    )
    .expect("write the file");

    // Standalone order is by id: "narrow" < "wide", so nothing is shadowed in the file.
    let validate = gw.ctl(&["validate", "-f", "shadow.yaml"]).await;
    assert_run(&validate, 0);
    assert!(!validate.stderr.contains("shadowed"), "{validate}");

    // On the server the order is creation: "wide" first, then "narrow" it shadows.
    let apply = gw.ctl(&["apply", "-f", "shadow.yaml"]).await;
    assert_run(&apply, 0);
    assert_warns(
        &apply,
        "warning: stream_routes/narrow is shadowed by stream_route wide: it never matches",
    );
    client::wait_for_greeting(gw.tcp_addr(0), "wide", APPLY)
        .await
        .expect("the wide route takes the connection");

    let wide = gw.ctl(&["stream-route", "list", "-o", "wide"]).await;
    assert_run(&wide, 0);
    let header = wide.stdout.lines().next().unwrap_or_default();
    assert!(header.ends_with("SHADOWED_BY"), "{wide}");
    let row = |id: &str| {
        wide.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
    };
    assert_eq!(row("narrow").as_deref(), Some("wide"), "{wide}");
    assert_eq!(row("wide").as_deref(), Some("-"), "{wide}");

    let port_text = port.to_string();
    let asked = [
        "match",
        "--client",
        "127.0.0.1",
        "--server-port",
        &port_text,
    ];
    let explained = gw.ctl(&[&asked[..], &["-o", "json"]].concat()).await;
    assert_run(&explained, 0);
    let report: Value = serde_json::from_str(&explained.stdout).expect("match -o json");
    assert_eq!(report["matched"], "wide");
    let narrow = report["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|v| v["id"] == "narrow"))
        .cloned()
        .expect("narrow in the report");
    assert_eq!(narrow["shadowed_by"], json!(["wide"]), "{report}");
    let table = gw.ctl(&asked).await;
    assert!(
        table
            .stdout
            .contains("(shadowed by stream_route wide: it never matches)"),
        "{table}"
    );

    // A file of routes loaded at once is checked in id order: "a" takes all of "b".
    std::fs::write(
        gw.prefix().join("local.yaml"),
        format!(
            "stream_routes:\n  - id: b\n    server_port: {port}\n    remote_addr: 10.0.0.1\n\
             \x20   upstream: {{nodes: {{\"127.0.0.1:1\": 1}}}}\n  - id: a\n    server_port: {port}\n\
             \x20   upstream: {{nodes: {{\"127.0.0.1:1\": 1}}}}\n#END\n"
        ),
    )
    .expect("write the local file");
    let local = gw.ctl(&["validate", "-f", "local.yaml"]).await;
    assert_run(&local, 0);
    assert_warns(
        &local,
        "warning: stream_routes[0] (id b): shadowed by stream_route a: it never matches",
    );
    let json_out = gw
        .ctl(&["validate", "-f", "local.yaml", "-o", "json"])
        .await;
    assert_run(&json_out, 0);
    let out: Value = serde_json::from_str(&json_out.stdout).expect("validate -o json");
    assert_eq!(out["valid"], true);
    assert_eq!(out["warnings"].as_array().map(Vec::len), Some(1), "{out}");
}
