//! The TLS client of `stream-route test --tls`: a rustls handshake over the TCP connection to
//! the route's listener, sending `--sni` (else the route's `sni`) as the server name. The
//! server certificate is verified against `--ca FILE` when given; without it verification
//! is off (a test tool talking to a gateway with self-signed certificates), and the report
//! says so.

use std::path::Path;
use std::sync::Arc;

use model::tls::AcceptAnyCertificate;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What the handshake negotiated, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// The server certificate was checked against `--ca`.
    pub verified: bool,
}

/// A connector verifying against the PEM certificates in `ca`, or not verifying at all.
pub fn connector(ca: Option<&Path>) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let config = match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("--ca {}: {e}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("--ca {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("--ca {}: no PEM certificate", path.display()));
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider))),
    }
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name sent as SNI: `sni`, else `host` (an IP address sends no SNI).
pub fn server_name(sni: Option<&str>, host: &str) -> Result<ServerName<'static>, String> {
    let name = sni.unwrap_or(host);
    ServerName::try_from(name.to_owned()).map_err(|e| format!("server name {name:?}: {e}"))
}

/// Runs the handshake over `tcp`.
pub async fn handshake(
    connector: &TlsConnector,
    name: ServerName<'static>,
    tcp: TcpStream,
    verified: bool,
) -> Result<(TlsStream<TcpStream>, Negotiated), String> {
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls handshake: {e}"))?;
    let version = stream
        .get_ref()
        .1
        .protocol_version()
        .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"));
    Ok((stream, Negotiated { version, verified }))
}
