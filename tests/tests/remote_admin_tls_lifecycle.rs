//! The life cycle of the Admin API's certificate against the real gateway: the generated
//! self-signed certificate (0600, reused after a restart, trusted on the same host without
//! flags, served by the Control API too); unusable files stop start-up (and fail
//! `apisix-gateway test`) with one line naming the config key; SIGHUP rotation serves the new
//! certificate and keeps an established Admin connection.

mod remote_tls_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use e2e::gateway::{ApiTls, Gateway, GatewayConfig, TEST_ADMIN_KEY};
use remote_tls_support::{assert_ok, assert_one_line_failure, s, Pki, SETTLE};
use testkit::certs::{accept_any_client_config, client_config};
use testkit::ctl::{run_ctl, run_ctl_env};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test]
async fn generated_certificate_is_private_reused_and_trusted_on_the_same_host() {
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.api_tls = Some(ApiTls {
        cert_and_key: None,
        ca_cert: None,
        control: true,
        client: accept_any_client_config(),
    });
    let mut gw = Gateway::start(config).await.expect("start gateway");
    let cert = gw.prefix().join("conf/admin_ssl.crt");
    let key = gw.prefix().join("conf/admin_ssl.key");
    for path in [&cert, &key] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .expect("generated file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert!(gw.log().contains("sha256"), "the fingerprint is logged");
    let first = std::fs::read(&cert).expect("cert");

    // On the gateway's host (its prefix as working directory, or $APISIX_PREFIX): no flags.
    let server = ["--server", &gw.admin_base(), "--admin-key", TEST_ADMIN_KEY];
    assert_ok(
        &run_ctl(
            gw.prefix(),
            &[&server[..], &["upstream", "list"]].concat(),
            None,
        )
        .await,
    );
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let args = [&server[..], &["upstream", "list"]].concat();
    assert_one_line_failure(
        &run_ctl(elsewhere.path(), &args, None).await,
        "unknown issuer",
    );
    let prefix = s(gw.prefix()).to_owned();
    let with_prefix =
        run_ctl_env(elsewhere.path(), &args, None, &[("APISIX_PREFIX", &prefix)]).await;
    assert_ok(&with_prefix);

    gw.restart().await.expect("restart");
    assert_eq!(
        std::fs::read(&cert).expect("cert"),
        first,
        "reused, not regenerated"
    );
}

/// Runs the gateway on `config`, expects it to stop at once, and returns its error line.
async fn start_up_error(config: GatewayConfig) -> String {
    let prefix = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(prefix.path().join("conf")).expect("conf");
    let path = prefix.path().join("conf/config.yaml");
    std::fs::write(&path, config.render()).expect("config");
    let bin = e2e::gateway::gateway_bin().expect("gateway binary");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["start", "-c", s(&path), "-p", s(prefix.path())])
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the gateway stops at once")
        .expect("run gateway");
    assert_eq!(out.status.code(), Some(1), "start-up must fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line\n{stderr}");
    // `apisix-gateway test` finds the same problem without starting.
    let checked = std::process::Command::new(e2e::gateway::gateway_bin().expect("binary"))
        .args(["test", "-c", s(&path), "-p", s(prefix.path())])
        .env("NO_COLOR", "1")
        .output()
        .expect("run test");
    assert_eq!(checked.status.code(), Some(1), "test must fail too");
    let problem = String::from_utf8_lossy(&checked.stderr).trim().to_owned();
    assert!(
        errors[0].ends_with(&problem),
        "{problem:?} vs {:?}",
        errors[0]
    );
    errors[0].to_owned()
}

#[tokio::test]
async fn unusable_certificate_files_stop_start_up_naming_the_key() {
    let pki = Pki::new("start ca", &["127.0.0.1"]);
    let other = Pki::new("other ca", &["127.0.0.1"]);
    let tls = |cert: PathBuf, key: PathBuf, ca: Option<PathBuf>, control: bool| {
        let mut config = GatewayConfig::with_listeners(0, 0);
        config.api_tls = Some(ApiTls {
            cert_and_key: Some((cert, key)),
            ca_cert: ca,
            control,
            client: accept_any_client_config(),
        });
        config
    };
    let missing = pki.path("missing.pem");
    let line = start_up_error(tls(missing.clone(), pki.key.clone(), None, false)).await;
    assert!(
        line.contains("deployment.admin.admin_api_mtls.admin_ssl_cert: "),
        "{line}"
    );
    assert!(line.contains(s(&missing)), "{line}");

    let line = start_up_error(tls(pki.cert.clone(), other.key.clone(), None, false)).await;
    assert!(
        line.contains("deployment.admin.admin_api_mtls.admin_ssl_cert_key: "),
        "{line}"
    );
    assert!(line.contains("does not match"), "{line}");

    let no_ca = pki.path("no-ca.pem");
    let line = start_up_error(tls(pki.cert.clone(), pki.key.clone(), Some(no_ca), false)).await;
    assert!(
        line.contains("deployment.admin.admin_api_mtls.admin_ssl_ca_cert: "),
        "{line}"
    );

    let unreadable = pki.path("unreadable.key");
    std::fs::write(&unreadable, "not a key").expect("write");
    let line = start_up_error(tls(pki.cert.clone(), unreadable, None, true)).await;
    assert!(line.contains("admin_ssl_cert_key: "), "{line}");
    assert!(line.contains("no private key"), "{line}");
}

/// Sends one keep-alive request on `stream` and returns the status line.
async fn request_status<S>(stream: &mut S) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!(
        "GET /apisix/admin/upstreams HTTP/1.1\r\nHost: gw\r\nX-API-KEY: {TEST_ADMIN_KEY}\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(SETTLE, stream.read(&mut byte))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    head.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn sighup_rotates_the_certificate_and_keeps_established_admin_connections() {
    let old = Pki::new("old ca", &["127.0.0.1"]);
    let new = Pki::new("new ca", &["127.0.0.1"]);
    // The gateway reads the files at fixed paths; rotation overwrites them.
    let files = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (
        files.path().join("admin.crt"),
        files.path().join("admin.key"),
    );
    std::fs::copy(&old.cert, &cert).expect("cert");
    std::fs::copy(&old.key, &key).expect("key");
    let mut config = GatewayConfig::with_listeners(0, 0);
    config.api_tls = Some(ApiTls {
        cert_and_key: Some((cert.clone(), key.clone())),
        ca_cert: None,
        control: false,
        client: accept_any_client_config(),
    });
    let gw = Gateway::start(config).await.expect("start gateway");
    let addr = ("127.0.0.1", gw.config.admin_port);
    let connect = |roots: rustls::RootCertStore| async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let connector = tokio_rustls::TlsConnector::from(client_config(roots, None, true));
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        connector.connect(name, tcp).await.ok()
    };
    let mut established = connect(old.ca.roots())
        .await
        .expect("handshake with the old cert");
    assert_eq!(request_status(&mut established).await, "HTTP/1.1 200 OK");

    std::fs::copy(&new.cert, &cert).expect("rotate cert");
    std::fs::copy(&new.key, &key).expect("rotate key");
    gw.sighup().expect("sighup");
    let new_roots = Arc::new(new.ca.roots());
    let mut fresh = e2e::wait::until("handshakes with the new certificate", SETTLE, || {
        let roots = (*new_roots).clone();
        connect(roots)
    })
    .await
    .expect("the new certificate is served after SIGHUP");
    assert_eq!(request_status(&mut fresh).await, "HTTP/1.1 200 OK");
    assert!(
        connect(old.ca.roots()).await.is_none(),
        "the old certificate is gone"
    );
    // The connection made before the reload still answers.
    assert_eq!(request_status(&mut established).await, "HTTP/1.1 200 OK");
}
