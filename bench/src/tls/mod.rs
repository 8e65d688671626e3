//! TLS load for `make bench`'s `tls` figures: full and resumed handshake rates
//! ([`rate::handshakes`]), bulk download through a TLS-terminating proxy ([`bulk::download`]),
//! and the upstreams they need ([`server`]: an endless plain TCP source and a TLS echo server).
//!
//! The client is rustls (ring) speaking TLS 1.3 only. The benchmark certificates are
//! self-signed, so the client accepts any certificate but still checks the handshake
//! signature (the server must hold the key): the full cost of a handshake stays in.

pub mod bulk;
pub mod rate;
pub mod server;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use model::tls::AcceptAnyCertificate;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The 32 B message each connection echoes.
pub const MESSAGE: [u8; 32] = *b"gwbench-tls-0123456789abcdefghij";

/// Longest time one connection (connect, handshake, echo, close) may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS 1.3 client configuration accepting any certificate. With `sessions` > 0 it keeps
/// that many sessions (tickets) in its own in-memory cache, so each connector made from it
/// resumes from its own earlier connections; with 0 every handshake is a full one.
pub fn client_config(sessions: usize) -> anyhow::Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("tls 1.3 client configuration")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider())))
        .with_no_client_auth();
    config.resumption = if sessions == 0 {
        Resumption::disabled()
    } else {
        Resumption::in_memory_sessions(sessions)
    };
    Ok(Arc::new(config))
}

/// `sni` as the name the client sends.
pub fn server_name(sni: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(sni.to_owned()).with_context(|| format!("invalid sni {sni:?}"))
}

/// TCP connect to `target` and the TLS handshake, each failure named.
pub async fn connect(
    target: SocketAddr,
    name: &ServerName<'static>,
    connector: &TlsConnector,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(target)
        .await
        .with_context(|| format!("cannot connect to {target}"))?;
    tcp.set_nodelay(true)?;
    connector
        .connect(name.clone(), tcp)
        .await
        .with_context(|| format!("tls handshake with {target} (sni {}) failed", name.to_str()))
}
