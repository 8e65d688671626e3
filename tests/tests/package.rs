//! The Debian package (`make package`, `scripts/package.sh`, docs/packaging.md), built from this
//! test run's binaries: the debug builds are linked into a temp target dir as `release/` and
//! packaged with `--no-build --fast`, so the test costs one packaging, not a release build.
//! The .deb is unpacked with `dpkg-deb` and checked (files, modes, conffiles, maintainer
//! scripts), its unit goes through `systemd-analyze verify`, and the unpacked gateway runs with
//! the unpacked config (its /var paths moved under the temp dir, free ports) and the unit's
//! own `ExecStart` arguments: it says READY=1 on `$NOTIFY_SOCKET` with the Admin API up, and
//! proxies a TCP echo.
//!
//! Needs cargo-deb (`cargo install cargo-deb --locked`; `make test` installs it), dpkg-deb
//! (package `dpkg`) and systemd-analyze (package `systemd`): a missing one fails the test.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use e2e::{backends, client, ports, tools, wait};

const UNIT: &str = "usr/lib/systemd/system/apisix-gateway.service";
const CONFIG: &str = "/etc/apisix-gateway/config.yaml";
const PROGRAMS: [&str; 3] = ["apisix-gateway", "apisixctl", "apisix-tui"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn run(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the .deb in `dir` from the binaries next to this test; returns its path.
fn build_package(dir: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_deb,
        "cargo-deb is missing: `cargo install cargo-deb --locked` (make deps installs it)"
    );
    let release = dir.join("target/release");
    std::fs::create_dir_all(&release).expect("staging dir");
    let gateway = tools::gateway_bin().expect("the gateway binary is built");
    for program in PROGRAMS {
        let built = gateway.with_file_name(program);
        let staged = release.join(program);
        if std::fs::hard_link(&built, &staged).is_err() {
            std::fs::copy(&built, &staged)
                .unwrap_or_else(|e| panic!("staging {}: {e}", built.display()));
        }
    }
    let mut script = Command::new(workspace_root().join("scripts/package.sh"));
    // cargo-deb reads the workspace itself: none of the variables `cargo test` set for us.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_") && name != "CARGO_HOME" {
            script.env_remove(name);
        }
    }
    let stdout = run(
        script
            .args(["--no-build", "--fast", "--output"])
            .arg(dir.join("deb"))
            .env("CARGO", &cargo)
            .env("CARGO_TARGET_DIR", dir.join("target")),
        "scripts/package.sh",
    );
    let deb = PathBuf::from(stdout.lines().last().expect("the .deb path").trim());
    assert!(deb.is_file(), "no package at {}", deb.display());
    deb
}

fn mode(path: &Path) -> u32 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o7777
}

fn assert_file(root: &Path, path: &str, want: u32) {
    let file = root.join(path);
    assert_eq!(mode(&file), want, "mode of /{path}");
    assert!(
        std::fs::metadata(&file).is_ok_and(|m| m.len() > 0),
        "/{path} is empty"
    );
}

fn check_contents(root: &Path, control: &Path) {
    for program in PROGRAMS {
        assert_file(root, &format!("usr/bin/{program}"), 0o755);
        let man = format!("usr/share/man/man1/{program}.1");
        assert_file(root, &man, 0o644);
        let page = std::fs::read_to_string(root.join(&man)).expect("man page");
        assert!(page.contains(&format!(".TH {program} 1")), "{man}:\n{page}");
        assert_file(
            root,
            &format!("usr/share/bash-completion/completions/{program}"),
            0o644,
        );
        assert_file(
            root,
            &format!("usr/share/zsh/vendor-completions/_{program}"),
            0o644,
        );
        assert_file(
            root,
            &format!("usr/share/fish/vendor_completions.d/{program}.fish"),
            0o644,
        );
    }
    assert_file(root, "etc/apisix-gateway/config.yaml", 0o640);
    assert_file(root, "etc/logrotate.d/apisix-gateway", 0o644);
    assert_file(root, UNIT, 0o644);
    let read = |name: &str| std::fs::read_to_string(control.join(name)).expect(name);
    assert!(read("conffiles").lines().any(|l| l == CONFIG), "conffiles");
    let postinst = read("postinst");
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper enable apisix-gateway.service"));
    assert!(read("control").contains("Depends: adduser"));
    let logrotate =
        std::fs::read_to_string(root.join("etc/logrotate.d/apisix-gateway")).expect("logrotate");
    assert!(logrotate.contains("--signal=USR1"), "{logrotate}");
}

/// The unit's `Key=value` lines.
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> &'a str {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

/// Checks the unit's settings, and runs `systemd-analyze verify` on a copy whose ExecStart
/// points at the unpacked binary (the only path not on this machine). Returns ExecStart.
fn check_unit(root: &Path, dir: &Path) -> String {
    let unit = std::fs::read_to_string(root.join(UNIT)).expect("unit");
    let settings = unit_settings(&unit);
    for (key, want) in [
        ("Type", "notify"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("LimitNOFILE", "1048576"),
        ("User", "apisix"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        (
            "ReadWritePaths",
            "/var/lib/apisix-gateway /var/log/apisix-gateway",
        ),
    ] {
        assert_eq!(setting(&settings, key), want, "{key}=");
    }
    let analyze = tools::require(&["systemd-analyze"], "systemd").expect("systemd-analyze");
    let bin = root.join("usr/bin/apisix-gateway");
    let copy = dir.join("apisix-gateway.service");
    let rewritten = unit.replace("/usr/bin/apisix-gateway", &bin.display().to_string());
    std::fs::write(&copy, rewritten).expect("unit copy");
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );
    setting(&settings, "ExecStart").to_owned()
}

/// Moves the packaged config's /var paths under `dir` and applies `edits` (each needle must
/// be in the config exactly once: the packaged config changed otherwise).
fn relocate_config(root: &Path, dir: &Path, edits: &[(&str, String)]) -> PathBuf {
    let text = std::fs::read_to_string(root.join(&CONFIG[1..])).expect("config");
    assert!(
        text.contains("/var/"),
        "the packaged config has no /var paths"
    );
    let mut text = text.replace("/var/", &format!("{}/var/", dir.display()));
    for (needle, replacement) in edits {
        assert_eq!(text.matches(needle).count(), 1, "{needle:?} in the config");
        text = text.replace(needle, replacement);
    }
    let path = dir.join("etc/apisix-gateway/config.yaml");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("etc dir");
    std::fs::write(&path, text).expect("config");
    path
}

/// The process started from the unit's ExecStart; killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_package_holds_the_programs_unit_and_config_and_its_gateway_proxies() {
    let dpkg_deb = tools::require(&["dpkg-deb"], "dpkg").expect("dpkg-deb");
    let dir = tempfile::Builder::new()
        .prefix("e2e-package-")
        .tempdir()
        .expect("tempdir");
    let deb = build_package(dir.path());
    let root = dir.path().join("root");
    let control = dir.path().join("control");
    run(
        Command::new(&dpkg_deb).arg("-x").arg(&deb).arg(&root),
        "dpkg-deb -x",
    );
    run(
        Command::new(&dpkg_deb).arg("-e").arg(&deb).arg(&control),
        "dpkg-deb -e",
    );
    check_contents(&root, &control);
    let exec_start = check_unit(&root, dir.path());

    let (echo, _closed) = backends::tcp_echo().await;
    let tcp = ports::free_port();
    let admin = ports::free_port();
    let config = relocate_config(
        &root,
        dir.path(),
        &[
            ("- 9100", format!("- {tcp}")),
            ("- 9200", format!("- {}", ports::free_port())),
            ("port: 9090", format!("port: {}", ports::free_port())),
            ("port: 9180", format!("port: {admin}")),
            ("port: 9091", format!("port: {}", ports::free_port())),
        ],
    );
    let notify = UnixDatagram::bind(dir.path().join("notify.sock")).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut args = exec_start.split_whitespace().map(|arg| match arg {
        CONFIG => config.clone(),
        a if a.starts_with("/usr/") => root.join(&a[1..]),
        a if a.starts_with("/var/") => dir.path().join(&a[1..]),
        a => PathBuf::from(a),
    });
    let program = args.next().expect("ExecStart has a program");
    let output = tools::append_file(&dir.path().join("stderr.log")).expect("log");
    let service = Service(
        Command::new(program)
            .args(args)
            .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log"))
            .stderr(output)
            .spawn()
            .expect("the unpacked gateway starts"),
    );

    let notify = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).context("no READY=1 within 30 s")?;
        anyhow::Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    });
    let message = notify.await.expect("join").unwrap_or_else(|e| {
        let log = tools::file_tail(&dir.path().join("stderr.log"), 40);
        let error_log = tools::file_tail(&dir.path().join("var/log/apisix-gateway/error.log"), 40);
        panic!("{e:#}\n--- stderr ---\n{log}\n--- error.log ---\n{error_log}")
    });
    assert!(message.lines().any(|l| l == "READY=1"), "{message}");
    // READY=1 comes after the Admin API is up: it answers at once.
    let key_file = dir.path().join("var/lib/apisix-gateway/conf/admin_key");
    let key = std::fs::read_to_string(&key_file).expect("the generated admin key");
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{admin}/apisix/admin/stream_routes/echo");
    let body =
        serde_json::json!({"upstream": {"nodes": {echo.to_string(): 1}, "type": "roundrobin"}});
    let put = wait::within(
        "admin put",
        http.put(&url)
            .header("X-API-KEY", key.trim())
            .json(&body)
            .send(),
    )
    .await
    .expect("the Admin API answers right after READY=1");
    assert!(put.status().is_success(), "{}", put.status());

    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], tcp));
    wait::eventually(
        "an echo through the packaged gateway",
        Duration::from_secs(15),
        || async move {
            let mut stream = client::connect(proxy).await.ok()?;
            client::echo_roundtrip(&mut stream, b"through the package\n")
                .await
                .ok()
        },
    )
    .await;
    for path in [
        "var/lib/apisix-gateway/data",
        "var/log/apisix-gateway/error.log",
    ] {
        assert!(dir.path().join(path).exists(), "/{path} was not made");
    }
    drop(service);
}
