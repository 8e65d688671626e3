//! Upstreams of the `tls` figures: an endless plain TCP source (the bulk figure's upstream
//! behind a TLS-terminating proxy) and a TLS echo server (the backend of SNI passthrough,
//! which does the handshake itself).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Bytes per write of the source.
const CHUNK: usize = 64 * 1024;

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on tcp {addr}"))
}

/// Every accepted connection gets bytes written endlessly (what it sends is read and
/// dropped) until it goes away. Serves until killed.
pub async fn source(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await.context("accept")?;
        let (mut rx, mut tx) = stream.into_split();
        tokio::spawn(async move {
            let mut sink = vec![0u8; 4096];
            while matches!(rx.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        tokio::spawn(async move {
            let chunk = vec![0x5au8; CHUNK];
            while tx.write_all(&chunk).await.is_ok() {}
        });
    }
}

/// A TLS 1.3 server configuration with the certificate chain and key of the PEM files.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid certificate in {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("no usable private key in {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("tls 1.3 server configuration")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not make a server identity")?;
    Ok(Arc::new(config))
}

/// `gwbench tls-echo`: [`serve_tls_echo`] on `addr` with the PEM files `cert` and `key`.
pub async fn tls_echo(addr: SocketAddr, cert: &Path, key: &Path, once: bool) -> anyhow::Result<()> {
    let config = server_config(cert, key)?;
    serve_tls_echo(bind(addr).await?, config, once).await
}

/// A TLS server that echoes what it reads; with `once` it closes after the first echo.
/// Serves until the task is dropped.
pub async fn serve_tls_echo(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    once: bool,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (stream, _) = listener.accept().await.context("accept")?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(stream).await {
                echo(tls, once).await;
            }
        });
    }
}

/// Echoes until the peer closes (or after the first echo with `once`), then closes with
/// a shutdown (close_notify on TLS).
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, once: bool) {
    let mut buf = vec![0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                if once {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}
