//! Shared fixtures for the TLS and PROXY protocol tests: a throw-away PKI (rcgen), snapshots
//! compiled from stored objects, a gateway listener set over them, TLS clients, and backends
//! that tag, echo, terminate TLS or parse PROXY headers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apisix_gateway::config::{ProxyProtocolVersion, TcpListen};
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::proxy_protocol::{read_header, ProxyHeader};
use apisix_gateway::snapshot::{compile, shared_empty, SharedSnapshot, Snapshot};
use apisix_gateway::store::KeyValue;
use apisix_gateway::tls::{TlsContext, TlsSettings};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Every network wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut` or panics after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls `cond` until it holds, failing after [`WAIT`] (counters are bumped by the server
/// task, possibly just after the client saw the connection close).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test certificate authority.
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

/// A leaf certificate and its key, as PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("self-signed ca");
        Ca { cert, key }
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (DNS names or IPs) signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Root store trusting this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).expect("add ca");
        roots
    }
}

impl Leaf {
    /// The certificate chain as DER.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("leaf certs")
    }

    /// The private key as DER.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("leaf key pem")
    }
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

/// A backend that writes `<tag>:` on accept, then echoes.
pub async fn tagged_echo(tag: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    let tag = format!("{tag}:");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tag = tag.clone();
            tokio::spawn(async move {
                let _ = echo_with_tag(stream, &tag).await;
            });
        }
    });
    addr
}

async fn echo_with_tag<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tag: &str,
) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    w.write_all(tag.as_bytes()).await?;
    w.flush().await?;
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
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
                let _ = echo_with_tag(tls, &tag).await;
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
                let _ = echo_with_tag(stream, "pp:").await;
            });
        }
    });
    (addr, rx)
}

/// A TLS client config trusting `roots`, with an optional client certificate.
pub fn client_config(
    roots: rustls::RootCertStore,
    client_cert: Option<&Leaf>,
    sni: bool,
) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key())
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = sni;
    Arc::new(config)
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
