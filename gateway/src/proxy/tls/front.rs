//! The front of an accepted TCP connection, before routing: PROXY header, then TLS
//! termination or SNI preread, as the listener asks. Produces the client stream (plain or
//! decrypted) and the [`ConnInfo`] routing sees, or why the connection must be closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use super::stream::ClientStream;
use super::TlsContext;
use crate::config::TcpListen;
use crate::conn::ConnInfo;
use crate::proxy_protocol;
use crate::session::RejectReason;
use crate::snapshot::Snapshot;
use crate::tls::sni::{normalize, preread_sni};

/// How long a TLS client has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the front closed a connection.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// Missing or malformed PROXY header on a `proxy_protocol` port.
    #[error("proxy protocol: {0}")]
    ProxyProtocol(std::io::Error),
    /// The ClientHello had no SNI and there is no `fallback_sni`.
    #[error("failed to find SNI")]
    NoSni,
    /// No SSL object serves the SNI.
    #[error("failed to match any SSL certificate by SNI: {0}")]
    NoCertificate(String),
    /// The TLS handshake (or the ClientHello preread) failed or timed out.
    #[error("tls handshake: {0}")]
    Handshake(std::io::Error),
}

impl FrontError {
    /// The rejection counter this failure goes to.
    pub fn reason(&self) -> RejectReason {
        match self {
            FrontError::ProxyProtocol(_) => RejectReason::ProxyProtocol,
            _ => RejectReason::TlsHandshake,
        }
    }
}

/// Runs the front of `stream` for a listener configured as `listen`; `conn` starts with the
/// socket's addresses and comes back with the client address and SNI routing should use.
/// Certificates come from `snapshot`, the configuration the connection pinned.
pub async fn accept_front(
    mut stream: TcpStream,
    mut conn: ConnInfo,
    listen: &TcpListen,
    tls: &TlsContext,
    snapshot: &Arc<Snapshot>,
) -> Result<(ClientStream, ConnInfo), FrontError> {
    let settings = tls.settings();
    if listen.proxy_protocol {
        let header = proxy_protocol::read_header(&mut stream)
            .await
            .map_err(FrontError::ProxyProtocol)?;
        match header.source {
            Some(source) if proxy_protocol::trusted(conn.remote.ip(), &settings.real_ip_from) => {
                tracing::debug!(peer = %conn.remote, client = %source, "proxy protocol client address");
                conn.remote = source;
            }
            Some(source) => tracing::debug!(
                peer = %conn.remote, claimed = %source,
                "proxy protocol header from a peer outside real_ip_from; address ignored"
            ),
            None => {}
        }
    }
    if listen.tls {
        let (tls_stream, sni) =
            terminate(stream, snapshot, settings.ssl.fallback_sni.as_deref()).await?;
        conn.sni = Some(sni);
        return Ok((ClientStream::Tls(Box::new(tls_stream)), conn));
    }
    if listen.sni_preread {
        let sni = preread_sni(&stream).await.map_err(FrontError::Handshake)?;
        conn.sni = match sni {
            Some(sni) => Some(sni),
            // `fallback_sni` stands in for a TLS client that sent no SNI; a non-TLS client
            // routes without SNI.
            None if starts_with_tls_record(&stream).await => settings.ssl.fallback_sni.clone(),
            None => None,
        };
    }
    Ok((ClientStream::Plain(stream), conn))
}

/// Whether the (already peeked) first byte is a TLS handshake record.
async fn starts_with_tls_record(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 22)
}

/// Reads the ClientHello, picks the SSL object by SNI and completes the handshake with it.
async fn terminate(
    stream: TcpStream,
    snapshot: &Arc<Snapshot>,
    fallback: Option<&str>,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, String), FrontError> {
    let work = async {
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = acceptor.await.map_err(FrontError::Handshake)?;
        let sent = start.client_hello().server_name().and_then(normalize);
        let sni = sent
            .or_else(|| fallback.map(str::to_owned))
            .ok_or(FrontError::NoSni)?;
        let ssl = snapshot
            .cert_index
            .find(&sni)
            .ok_or_else(|| FrontError::NoCertificate(sni.clone()))?;
        tracing::trace!(sni = %sni, ssl = %ssl.id, mtls = ssl.mtls, "tls certificate selected");
        let config = ssl.config.clone();
        let tls_stream = start
            .into_stream(config)
            .await
            .map_err(FrontError::Handshake)?;
        Ok((tls_stream, sni))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .map_err(|_| {
            FrontError::Handshake(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
            ))
        })?
}
