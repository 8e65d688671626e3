//! One active probe, as lua-resty-healthcheck's `run_single_check` does it: connect (timeout
//! → `Timeout`, refused → `TcpFailure`); `tcp` stops there (`Success`). `https` then
//! handshakes (SNI = `checks.active.host` or the node host; the certificate is verified
//! against the web PKI roots unless `https_verify_certificate: false`; failure →
//! `TcpFailure`). `http`/`https` send `<http_method> <http_path> HTTP/1.1` with
//! `Connection: close`, the `req_headers`, `Host` and the optional body, read the status line
//! and classify the status: in `healthy.http_statuses` → `Success`, in
//! `unhealthy.http_statuses` or unparsable → `HttpFailure`, anything else is ignored.
//! Every socket operation has the probe `timeout`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::settings::{Active, ProbeKind};
use crate::balancer::health::Report;
use crate::tls::accept_any_certificate;

/// Longest status line read.
const MAX_STATUS_LINE: usize = 8192;

/// Probes `addr` (the node's resolved address with the probe port); `host` is the host
/// header / SNI. `None`: the answer's status is in neither list (ignored).
pub async fn probe(active: &Active, addr: SocketAddr, host: &str) -> Option<Report> {
    let timeout = active.timeout;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Some(Report::Timeout),
        Ok(Err(_)) => return Some(Report::TcpFailure),
        Ok(Ok(stream)) => stream,
    };
    match active.kind {
        ProbeKind::Tcp => Some(Report::Success),
        ProbeKind::Http => http_exchange(active, stream, host).await,
        ProbeKind::Https => {
            let config = if active.verify_certificate {
                verifying_config()
            } else {
                accepting_config()
            };
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).ok()?;
            let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(tls)) => http_exchange(active, tls, host).await,
                Ok(Err(e)) => {
                    tracing::warn!(node = %addr, host, error = %e, "health check: failed SSL handshake");
                    Some(Report::TcpFailure)
                }
                Err(_) => Some(Report::Timeout),
            }
        }
    }
}

/// The request text for `active` and `host`.
pub fn request(active: &Active, host: &str) -> String {
    let mut headers = active.req_headers.join("\r\n");
    if !headers.is_empty() {
        headers.push_str("\r\n");
    }
    let mut out = format!(
        "{} {} HTTP/1.1\r\nConnection: close\r\n{headers}Host: {host}\r\n",
        active.http_method, active.http_path
    );
    if active.http_req_body.is_empty() {
        out.push_str("\r\n");
    } else {
        out.push_str(&format!(
            "Content-Length: {}\r\n\r\n{}",
            active.http_req_body.len(),
            active.http_req_body
        ));
    }
    out
}

/// The status of `HTTP/x.y NNN ...`, `None` for anything else.
pub fn parse_status(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/")?;
    let (version, rest) = rest.split_once(|c: char| c.is_ascii_whitespace())?;
    let (major, minor) = version.split_once('.')?;
    if major.is_empty()
        || minor.is_empty()
        || !(major.chars().chain(minor.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

async fn http_exchange<S>(active: &Active, stream: S, host: &str) -> Option<Report>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = active.timeout;
    let mut stream = BufReader::new(stream);
    let sent = tokio::time::timeout(timeout, async {
        stream
            .get_mut()
            .write_all(request(active, host).as_bytes())
            .await?;
        stream.get_mut().flush().await
    })
    .await;
    match sent {
        Err(_) => return Some(Report::Timeout),
        Ok(Err(_)) => return Some(Report::TcpFailure),
        Ok(Ok(())) => {}
    }
    let mut line = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut limited = (&mut stream).take(MAX_STATUS_LINE as u64);
        limited.read_until(b'\n', &mut line).await
    })
    .await;
    let status = match read {
        Err(_) => return Some(Report::Timeout),
        Ok(Err(_)) | Ok(Ok(0)) => return Some(Report::TcpFailure),
        Ok(Ok(_)) => parse_status(String::from_utf8_lossy(&line).trim_end()),
    };
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.get_mut().shutdown()).await;
    match status {
        Some(code) if active.healthy_statuses.contains(&code) => Some(Report::Success),
        Some(code) if active.unhealthy_statuses.contains(&code) => Some(Report::HttpFailure),
        Some(_) => None,
        None => Some(Report::HttpFailure),
    }
}

fn verifying_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

fn accepting_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let config = ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .dangerous()
                .with_custom_certificate_verifier(accept_any_certificate())
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_like_the_lua_regex() {
        let cases = [
            ("HTTP/1.1 200 OK", Some(200)),
            ("HTTP/1.0 503", Some(503)),
            ("http/1.1 200 OK", None),
            ("GET / HTTP/1.1", None),
            ("HTTP/1.1 OK", None),
        ];
        for (line, status) in cases {
            assert_eq!(parse_status(line), status, "{line:?}");
        }
    }

    #[test]
    fn request_has_connection_close_headers_and_host() {
        let mut active = Active {
            req_headers: vec!["User-Agent: probe".into(), "X-A: 1".into()],
            http_path: "/status".into(),
            ..Active::default()
        };
        assert_eq!(
            request(&active, "api.local"),
            "GET /status HTTP/1.1\r\nConnection: close\r\nUser-Agent: probe\r\nX-A: 1\r\nHost: api.local\r\n\r\n"
        );
        active.http_req_body = "ping".into();
        active.http_method = "POST".into();
        assert!(request(&active, "h").ends_with("Host: h\r\nContent-Length: 4\r\n\r\nping"));
    }
}
