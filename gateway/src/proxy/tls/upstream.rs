//! The upstream side after connect: the PROXY header (`proxy_protocol_to_upstream`) first,
//! then TLS for `scheme: tls` upstreams.
//!
//! TLS to upstreams sends the client's SNI when it has one, else the node host (no SNI for an
//! IP). `tls.verify: false` (APISIX's default) accepts any certificate (signatures are still
//! checked); `true` verifies against `apisix.ssl.ssl_trusted_certificate` (`system`: the
//! bundled web PKI roots; paths: PEM bundles). A client certificate comes from
//! `tls.client_cert`/`client_key` or the `type: client` SSL object `tls.client_cert_id`.

use std::sync::Arc;

use model::types::UpstreamTls;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::stream::UpstreamStream;
use super::TlsContext;
use crate::config::ProxyProtocolVersion;
use crate::conn::ConnInfo;
use crate::proxy_protocol;
use crate::snapshot::Snapshot;
use crate::tls::certs::{certified_key, roots_from_pem};
use crate::tls::{accept_any_certificate, provider, TlsSettings};

/// The upstream leg could not be set up after connecting.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("sending the proxy protocol header: {0}")]
    ProxyProtocol(std::io::Error),
    #[error("upstream tls configuration: {0}")]
    Config(String),
    #[error("upstream tls handshake: {0}")]
    Handshake(std::io::Error),
}

impl UpstreamSetupError {
    /// The I/O error kind behind it (`TimedOut` for a handshake timeout); `Other` for a
    /// configuration problem.
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            UpstreamSetupError::ProxyProtocol(e) | UpstreamSetupError::Handshake(e) => e.kind(),
            UpstreamSetupError::Config(_) => std::io::ErrorKind::Other,
        }
    }
}

/// The upstream leg's settings for one connection: PROXY protocol, `scheme: tls` settings, and
/// the pinned configuration (for `client_cert_id`).
#[derive(Clone, Copy)]
pub struct UpstreamLeg<'a> {
    pub proxy_protocol: Option<ProxyProtocolVersion>,
    pub scheme_tls: Option<&'a UpstreamTls>,
    pub tls: &'a TlsContext,
    pub snapshot: &'a Arc<Snapshot>,
}

/// Prepares a connected upstream `stream` to `host` for relaying `conn`.
pub async fn prepare_upstream(
    mut stream: TcpStream,
    host: &str,
    conn: &ConnInfo,
    leg: UpstreamLeg<'_>,
) -> Result<UpstreamStream, UpstreamSetupError> {
    let UpstreamLeg {
        proxy_protocol,
        scheme_tls,
        tls,
        snapshot,
    } = leg;
    if let Some(version) = proxy_protocol {
        let header = proxy_protocol::encode(version, conn.remote, conn.local);
        stream
            .write_all(&header)
            .await
            .map_err(UpstreamSetupError::ProxyProtocol)?;
    }
    let Some(spec) = scheme_tls else {
        return Ok(UpstreamStream::Plain(stream));
    };
    let config = client_config(spec, tls, snapshot).map_err(UpstreamSetupError::Config)?;
    let name = server_name(conn.sni.as_deref(), host).map_err(UpstreamSetupError::Config)?;
    let handshake = TlsConnector::from(config).connect(name, stream);
    let tls_stream = tokio::time::timeout(super::front::HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| {
            UpstreamSetupError::Handshake(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "upstream tls handshake timed out",
            ))
        })?
        .map_err(UpstreamSetupError::Handshake)?;
    Ok(UpstreamStream::Tls(Box::new(tls_stream)))
}

/// The name to verify (and send as SNI unless it is an IP).
fn server_name(sni: Option<&str>, host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = sni.unwrap_or(host);
    ServerName::try_from(name.to_owned()).map_err(|e| format!("server name {name:?}: {e}"))
}

fn client_config(
    spec: &UpstreamTls,
    tls: &TlsContext,
    snapshot: &Arc<Snapshot>,
) -> Result<Arc<ClientConfig>, String> {
    let settings = tls.settings();
    let verify = spec.verify.unwrap_or(false);
    let (identity, client_key) = client_identity(spec, snapshot, &settings)?;
    let cache_key = format!("{verify}|{identity}");
    tls.client_config(cache_key, || {
        let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls versions: {e}"))?;
        let builder = if verify {
            builder.with_root_certificates(trusted_roots(&settings)?)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(accept_any_certificate())
        };
        Ok(match client_key {
            Some(key) => builder.with_client_cert_resolver(Arc::new(FixedClientCert(key))),
            None => builder.with_no_client_auth(),
        })
    })
}

/// A cache identity for the client certificate, and the certificate itself.
fn client_identity(
    spec: &UpstreamTls,
    snapshot: &Arc<Snapshot>,
    settings: &TlsSettings,
) -> Result<(String, Option<Arc<CertifiedKey>>), String> {
    if let Some(id) = &spec.client_cert_id {
        let ssl = snapshot
            .ssls
            .get(id)
            .cloned()
            .ok_or_else(|| format!("failed to fetch ssl info by ssl id [{id}]"))?;
        let key = snapshot
            .cert_index
            .client_cert(id)
            .ok_or_else(|| format!("ssl {id} is not a usable client certificate"))?;
        let identity = format!("id:{id}|{:?}|{:?}", ssl.cert, ssl.key);
        return Ok((identity, Some(key)));
    }
    match (&spec.client_cert, &spec.client_key) {
        (Some(cert), Some(key)) => {
            let certified = certified_key(cert, key, &settings.ssl.keyring)?;
            Ok((format!("pem:{cert}|{key}"), Some(Arc::new(certified))))
        }
        _ => Ok((String::new(), None)),
    }
}

fn trusted_roots(settings: &TlsSettings) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if settings.ssl.trusted.system_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in &settings.ssl.trusted.files {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("ssl_trusted_certificate {}: {e}", path.display()))?;
        for cert in roots_from_pem(&pem)?.roots {
            roots.roots.push(cert);
        }
    }
    Ok(roots)
}

/// Always presents one client certificate.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
