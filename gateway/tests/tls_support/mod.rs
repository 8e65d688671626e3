//! Shared fixtures for the TLS and PROXY protocol tests: snapshots compiled from stored
//! objects, a gateway listener set over them, TLS clients, and backends that terminate TLS or
//! parse PROXY headers. The PKI, the tagging echo backend and the bounded waits come from
//! `testkit`.

// Each test binary uses a part of this module, its re-exports from `testkit` included.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;

use apisix_gateway::config::{ProxyProtocolVersion, TcpListen};
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::tls::TlsContext;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::proxy_protocol::{read_header, ProxyHeader};
use apisix_gateway::snapshot::{compile, shared_empty, SharedSnapshot, Snapshot};
use apisix_gateway::store::KeyValue;
use apisix_gateway::tls::TlsSettings;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use testkit::backends::{tag_then_echo, write_tag_then_echo};
pub use testkit::certs::{client_config, provider, Ca, Leaf};
pub use testkit::wait::{within, STEP_TIMEOUT as WAIT};

/// Polls `cond` until it holds, failing after [`WAIT`] (counters are bumped by the server
/// task, possibly just after the client saw the connection close).
pub async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    testkit::wait::eventually_true(what, WAIT, cond).await
}

/// One stored object under `/apisix`.
pub fn kv(path: &str, value: Value, revision: i64) -> KeyValue {
    KeyValue {
        key: format!("/apisix/{path}"),
        value,
        create_revision: revision,
        mod_revision: revision,
        lease: 0,
    }
}

/// A server SSL object for `snis`.
pub fn ssl(leaf: &Leaf, snis: &[&str]) -> Value {
    json!({"cert": leaf.cert_pem, "key": leaf.key_pem, "snis": snis})
}

/// An inline upstream over one node.
pub fn upstream_to(node: SocketAddr) -> Value {
    json!({"type": "roundrobin", "nodes": {node.to_string(): 1}})
}

/// Compiles `items` into a snapshot (every object must be valid).
pub fn snapshot_of(items: &[KeyValue]) -> Snapshot {
    let ctx = model::CheckContext::new(vec![], vec![]);
    compile(items, "/apisix", &ctx, None)
}

/// A running gateway: listeners over a shared snapshot.
pub struct Gateway {
    pub set: ListenerSet,
    pub addr: SocketAddr,
    pub ctx: Arc<ProxyContext>,
    pub snapshot: SharedSnapshot,
}

impl Gateway {
    /// Swaps in a new snapshot.
    pub fn install(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }
}

/// A listen entry on 127.0.0.1:0.
pub fn listen() -> TcpListen {
    TcpListen {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: false,
        sni_preread: false,
        proxy_protocol: false,
        proxy_protocol_to_upstream: None,
    }
}

/// A TLS-terminating listen entry.
pub fn tls_listen() -> TcpListen {
    TcpListen {
        tls: true,
        ..listen()
    }
}

/// An `sni_preread` listen entry.
pub fn preread_listen() -> TcpListen {
    TcpListen {
        sni_preread: true,
        ..listen()
    }
}

/// A listen entry accepting PROXY headers and sending `out` upstream.
pub fn pp_listen(accept: bool, out: Option<ProxyProtocolVersion>) -> TcpListen {
    TcpListen {
        proxy_protocol: accept,
        proxy_protocol_to_upstream: out,
        ..listen()
    }
}

/// Starts one listener configured as `entry` over `snapshot` with `settings`.
pub async fn start(entry: TcpListen, snapshot: Snapshot, settings: TlsSettings) -> Gateway {
    let shared = shared_empty();
    shared.store(Arc::new(snapshot));
    let tls = Arc::new(TlsContext::new(Some(shared.clone()), settings));
    let ctx =
        Arc::new(ProxyContext::new(Arc::new(SnapshotRoutes::new(shared.clone()))).with_tls(tls));
    let mut set = ListenerSet::new(ctx.clone());
    set.reconcile(&[entry], &[]).await.expect("bind gateway");
    let addr = set.tcp_addrs()[0];
    Gateway {
        set,
        addr,
        ctx,
        snapshot: shared,
    }
}

/// What a TLS backend saw of one connection.
#[derive(Debug, Clone)]
pub struct TlsSeen {
    pub sni: Option<String>,
    pub client_cert: bool,
}

/// A TLS backend serving `leaf` (requiring client certs from `client_ca` when given); writes
/// `<tag>:` then echoes; reports each handshake.
pub async fn tls_backend(
    tag: &str,
    leaf: &Leaf,
    client_ca: Option<&Ca>,
) -> (SocketAddr, mpsc::UnboundedReceiver<TlsSeen>) {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                provider(),
            )
            .build()
            .expect("client verifier"),
        ),
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(leaf.chain(), leaf.key())
        .expect("backend cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind tls backend");
    let addr = listener.local_addr().expect("addr");
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let tag = format!("{tag}:");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen_tx = seen_tx.clone();
            let tag = tag.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let (_, conn) = tls.get_ref();
                let _ = seen_tx.send(TlsSeen {
                    sni: conn.server_name().map(str::to_owned),
                    client_cert: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
                });
                let _ = write_tag_then_echo(tls, &tag).await;
            });
        }
    });
    (addr, seen_rx)
}

/// A backend that reads a PROXY header, reports it, then echoes.
pub async fn pp_backend() -> (SocketAddr, mpsc::UnboundedReceiver<ProxyHeader>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind pp backend");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(header) = read_header(&mut stream).await else {
                    return;
                };
                let _ = tx.send(header);
                let _ = write_tag_then_echo(stream, "pp:").await;
            });
        }
    });
    (addr, rx)
}

/// A TLS client connection to `addr` as `name`.
pub async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = within("tcp connect", TcpStream::connect(addr)).await?;
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    within(
        "tls handshake",
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
}

/// Reads exactly `n` bytes as text.
pub async fn read_text<S: AsyncRead + Unpin>(stream: &mut S, n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    within("read", stream.read_exact(&mut buf)).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Writes `msg` and reads back `<tag>:<msg>`, returning the tag.
pub async fn tag_and_echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &str,
) -> std::io::Result<String> {
    stream.write_all(msg.as_bytes()).await?;
    stream.flush().await?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    // The tag ends at the first ':'.
    loop {
        within("tag", stream.read_exact(&mut byte)).await?;
        if byte[0] == b':' {
            break;
        }
        got.push(byte[0]);
    }
    let echoed = read_text(stream, msg.len()).await?;
    assert_eq!(echoed, msg, "echo through the gateway");
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// The DER of the certificate the server presented on `stream`.
pub fn served_cert(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("a server certificate")
}
