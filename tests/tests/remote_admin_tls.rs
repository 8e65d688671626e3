//! Remote administration over TLS against the real binaries, with certificates made here
//! (rcgen): `apisixctl` over HTTPS with `--ca-cert-file`, a stored context, `--tls-skip-verify`
//! and `ADC_TLS_SKIP_VERIFY`; one-line reasons for an unknown issuer, a name mismatch, an
//! expired certificate and a missing or refused client certificate; mutual TLS on the Admin
//! and Control APIs; plain HTTP on the HTTPS port gets no answer; the dashboard over mutual
//! TLS; the audit trail (accepted and refused writes, connection kills, never the key,
//! reopened on SIGUSR1). The certificate's life cycle is in `remote_admin_tls_lifecycle.rs`.

mod remote_tls_support;

use std::path::Path;
use std::time::Duration;

use e2e::gateway::{ApiTls, Gateway, GatewayConfig, TEST_ADMIN_KEY, TEST_VIEWER_KEY};
use remote_tls_support::{
    assert_ok, assert_one_line_failure, ctl_at, ctl_with_key, s, Pki, SETTLE,
};
use serde_json::Value;
use testkit::certs::{accept_any_client_config, client_config, Leaf};
use testkit::ctl::{run_ctl, run_ctl_env};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The audit log's lines as JSON.
fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each audit line is JSON"))
        .collect()
}

async fn wait_for_audit(path: &Path, what: &str, found: impl Fn(&Value) -> bool) -> Value {
    e2e::wait::until(what, SETTLE, || {
        let line = audit_lines(path).into_iter().find(|l| found(l));
        async move { line }
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- audit log ---\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        )
    })
}

#[tokio::test]
async fn apisixctl_over_https_with_ca_context_skip_verify_and_audit_trail() {
    let pki = Pki::new("admin ca", &["127.0.0.1"]);
    let wrong = Pki::new("wrong ca", &["127.0.0.1"]);
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.api_tls = Some(ApiTls {
        cert_and_key: Some((pki.cert.clone(), pki.key.clone())),
        ca_cert: None,
        control: true,
        client: client_config(pki.ca.roots(), None, true),
    });
    let gw = Gateway::start(config).await.expect("start https gateway");
    assert!(gw.admin_base().starts_with("https://"));
    let ca = ["--ca-cert-file", s(&pki.ca_file)];

    // CRUD with --ca-cert-file, Admin and Control API alike.
    let put = gw
        .ctl(
            &[
                &ca[..],
                &["upstream", "put", "u1", "--node", "127.0.0.1:1980"],
            ]
            .concat(),
        )
        .await;
    assert_ok(&put);
    assert!(put.stdout.contains("created"), "{put}");
    let list = gw
        .ctl(&[&ca[..], &["-o", "json", "upstream", "list"]].concat())
        .await;
    assert_ok(&list);
    assert!(list.stdout.contains("\"u1\""), "{list}");
    let status = gw.ctl(&[&ca[..], &["status"]].concat()).await;
    assert_ok(&status);
    let deleted = gw
        .ctl(&[&ca[..], &["upstream", "delete", "u1"]].concat())
        .await;
    assert_ok(&deleted);

    // Certificate problems: one line, exit 1.
    let wrong_ca = gw
        .ctl(&["--ca-cert-file", s(&wrong.ca_file), "upstream", "list"])
        .await;
    assert_one_line_failure(&wrong_ca, "unknown issuer");
    let no_ca = gw.ctl(&["upstream", "list"]).await;
    assert_one_line_failure(&no_ca, "unknown issuer");
    let by_name = format!("https://localhost:{}", gw.config.admin_port);
    let mismatch = ctl_at(&gw, &by_name, &[&ca[..], &["upstream", "list"]].concat()).await;
    assert_one_line_failure(&mismatch, "name mismatch");

    // --tls-skip-verify and ADC_TLS_SKIP_VERIFY accept the certificate.
    assert_ok(&gw.ctl(&["--tls-skip-verify", "upstream", "list"]).await);
    let globals = gw.ctl_globals();
    let mut args: Vec<&str> = globals.iter().map(String::as_str).collect();
    args.extend(["upstream", "list"]);
    let env_skip = run_ctl_env(gw.prefix(), &args, None, &[("ADC_TLS_SKIP_VERIFY", "true")]).await;
    assert_ok(&env_skip);

    // Plain HTTP on the HTTPS port gets no Admin answer.
    let plain = format!("http://127.0.0.1:{}", gw.config.admin_port);
    let refused = ctl_at(&gw, &plain, &["upstream", "list"]).await;
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("try https://"), "{refused}");
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", gw.config.admin_port))
        .await
        .expect("connect");
    let request = format!(
        "GET /apisix/admin/upstreams HTTP/1.1\r\nHost: x\r\nX-API-KEY: {TEST_ADMIN_KEY}\r\n\r\n"
    );
    raw.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(SETTLE, raw.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1."),
        "no HTTP answer on the TLS port: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A stored context carries the URLs, the key and the CA.
    let cwd = tempfile::tempdir().expect("tempdir");
    let set = run_ctl(
        cwd.path(),
        &[
            "--server",
            &gw.admin_base(),
            "--control",
            &gw.control_base(),
            "--admin-key",
            TEST_ADMIN_KEY,
            "--ca-cert-file",
            s(&pki.ca_file),
            "config",
            "set-context",
            "prod",
        ],
        None,
    )
    .await;
    assert_ok(&set);
    assert_ok(&run_ctl(cwd.path(), &["config", "use-context", "prod"], None).await);
    let via_context = run_ctl(
        cwd.path(),
        &["upstream", "put", "u2", "--node", "127.0.0.1:1981"],
        None,
    )
    .await;
    assert_ok(&via_context);
    assert_ok(&run_ctl(cwd.path(), &["status"], None).await);
    let contexts = run_ctl(cwd.path(), &["config", "get-contexts"], None).await;
    assert!(contexts.stdout.contains("ca"), "{contexts}");

    // Audit: accepted writes with their revision, refused ones with error_msg, never a key.
    let upstream_delete = [&ca[..], &["upstream", "delete", "u2"]].concat();
    let viewer = ctl_with_key(&gw, &gw.admin_base(), TEST_VIEWER_KEY, &upstream_delete).await;
    assert_eq!(viewer.code, 1, "{viewer}");
    let kill = gw
        .ctl(&[&ca[..], &["connections", "kill", "c-00000000000000ff"]].concat())
        .await;
    assert_eq!(kill.code, 1, "{kill}");
    let audit = gw.prefix().join("logs/admin_audit.log");
    let created = wait_for_audit(&audit, "the PUT of u1", |l| {
        l["method"] == "PUT" && l["path"] == "/apisix/admin/upstreams/u1"
    })
    .await;
    assert_eq!(created["status"], 201);
    assert_eq!(created["key_name"], "admin");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["api"], "admin");
    assert!(
        created["revision"].as_i64().is_some_and(|r| r > 0),
        "{created}"
    );
    assert!(created["client"]
        .as_str()
        .is_some_and(|c| c.starts_with("127.0.0.1:")));
    assert!(
        created["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{created}"
    );
    assert!(created.get("error_msg").is_none(), "{created}");
    let refused = wait_for_audit(&audit, "the viewer's DELETE", |l| {
        l["method"] == "DELETE" && l["status"] == 401
    })
    .await;
    assert_eq!(refused["key_name"], "viewer");
    assert!(
        refused["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("invalid method for role viewer")),
        "{refused}"
    );
    assert!(refused.get("revision").is_none(), "{refused}");
    let killed = wait_for_audit(&audit, "the connection kill", |l| l["api"] == "control").await;
    assert_eq!(killed["status"], 404);
    assert_eq!(killed["path"], "/v1/connections/c-00000000000000ff");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        !text.contains(TEST_ADMIN_KEY) && !text.contains(TEST_VIEWER_KEY),
        "{text}"
    );

    // SIGUSR1 reopens the audit log after a rotation.
    let rotated = gw.prefix().join("logs/admin_audit.log.1");
    std::fs::rename(&audit, &rotated).expect("rotate");
    gw.sigusr1().expect("sigusr1");
    let after = gw
        .ctl(&[&ca[..], &["upstream", "delete", "u2"]].concat())
        .await;
    assert_ok(&after);
    let line = wait_for_audit(&audit, "a line in the new file", |l| {
        l["path"] == "/apisix/admin/upstreams/u2" && l["status"] == 200
    })
    .await;
    assert_eq!(line["method"], "DELETE");
    assert!(!audit_lines(&rotated).is_empty());
}

/// A gateway whose Admin and Control APIs serve HTTPS with `pki`'s server certificate and
/// require a client certificate signed by `pki`'s CA (the test's own client presents `leaf`).
async fn start_mutual_tls(pki: &Pki, leaf: &Leaf) -> Gateway {
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.api_tls = Some(ApiTls {
        cert_and_key: Some((pki.cert.clone(), pki.key.clone())),
        ca_cert: Some(pki.ca_file.clone()),
        control: true,
        client: client_config(pki.ca.roots(), Some(leaf), true),
    });
    Gateway::start(config)
        .await
        .expect("start the mutual-TLS gateway")
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_signed_certificate_on_admin_and_control() {
    let pki = Pki::new("mtls ca", &["127.0.0.1", "localhost"]);
    let (leaf, client_cert, client_key) = pki.client("ci");
    let other = Pki::new("other ca", &["127.0.0.1"]);
    let (_, other_cert, other_key) = other.client("stranger");
    let gw = start_mutual_tls(&pki, &leaf).await;
    let ca = ["--ca-cert-file", s(&pki.ca_file)];

    let without = gw.ctl(&[&ca[..], &["upstream", "list"]].concat()).await;
    assert_one_line_failure(&without, "client certificate required");
    let control_without = gw.ctl(&[&ca[..], &["status"]].concat()).await;
    assert_one_line_failure(&control_without, "client certificate required");
    let stranger = gw
        .ctl(
            &[
                &ca[..],
                &[
                    "--tls-client-cert-file",
                    s(&other_cert),
                    "--tls-client-key-file",
                    s(&other_key),
                ],
                &["upstream", "list"],
            ]
            .concat(),
        )
        .await;
    assert_one_line_failure(&stranger, "client certificate refused");

    let with = [
        "--tls-client-cert-file",
        s(&client_cert),
        "--tls-client-key-file",
        s(&client_key),
    ];
    let put = gw
        .ctl(
            &[
                &ca[..],
                &with[..],
                &["upstream", "put", "m1", "--node", "127.0.0.1:1980"],
            ]
            .concat(),
        )
        .await;
    assert_ok(&put);
    assert_ok(&gw.ctl(&[&ca[..], &with[..], &["status"]].concat()).await);
    let env = [
        ("ADC_CA_CERT_FILE", s(&pki.ca_file)),
        ("ADC_TLS_CLIENT_CERT_FILE", s(&client_cert)),
        ("ADC_TLS_CLIENT_KEY_FILE", s(&client_key)),
    ];
    let globals = gw.ctl_globals();
    let mut args: Vec<&str> = globals.iter().map(String::as_str).collect();
    args.extend(["upstream", "get", "m1"]);
    assert_ok(&run_ctl_env(gw.prefix(), &args, None, &env).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_connects_over_mutual_tls_and_shows_it_in_the_header() {
    use e2e::tmux::{shell_quote, Tmux};
    e2e::tools::require(&["tmux"], "tmux").expect("tmux is needed for this test");
    let pki = Pki::new("tui ca", &["127.0.0.1"]);
    let (leaf, client_cert, client_key) = pki.client("tui");
    let gw = start_mutual_tls(&pki, &leaf).await;
    let tui = e2e::tools::target_bin("apisix-tui", "APISIX_TUI_BIN").expect("apisix-tui binary");
    let command = format!(
        "{} --server {} --control {} --admin-key {} --ca-cert-file {} --tls-client-cert-file {} \
         --tls-client-key-file {} --refresh 200",
        shell_quote(&tui.to_string_lossy()),
        shell_quote(&gw.admin_base()),
        shell_quote(&gw.control_base()),
        shell_quote(TEST_ADMIN_KEY),
        shell_quote(s(&pki.ca_file)),
        shell_quote(s(&client_cert)),
        shell_quote(s(&client_key)),
    );
    let tmux = Tmux::start(&command, gw.prefix(), 120, 40).expect("start tmux");
    let screen = tmux
        .wait_for("connected over mTLS", Duration::from_secs(15), |s| {
            s.contains("● connected") && s.contains("│ mTLS")
        })
        .await
        .expect("the dashboard connects over mutual TLS");
    assert!(!screen.contains("disconnected"), "{screen}");
    tmux.send_keys(&["q"]).expect("quit");
}

#[tokio::test]
async fn an_expired_server_certificate_is_named_as_expired() {
    let pki = Pki::new("expired ca", &["127.0.0.1"]);
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params
        .signed_by(&key, &pki.ca.cert, &pki.ca.key)
        .expect("signed");
    let (cert_path, key_path) = (pki.path("old.crt"), pki.path("old.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.api_tls = Some(ApiTls {
        cert_and_key: Some((cert_path, key_path)),
        ca_cert: None,
        control: false,
        client: accept_any_client_config(),
    });
    let gw = Gateway::start(config).await.expect("start gateway");
    let run = gw
        .ctl(&["--ca-cert-file", s(&pki.ca_file), "upstream", "list"])
        .await;
    assert_one_line_failure(&run, "certificate problem: expired");
}
