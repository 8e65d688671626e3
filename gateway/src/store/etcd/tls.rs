//! TLS to etcd (`https://` hosts): our own rustls connector behind a raw tonic channel, so
//! that every `deployment.etcd.tls` setting works, `verify: false` included (tonic's TLS
//! cannot skip verification).
//!
//! - The server is verified against `apisix.ssl.ssl_trusted_certificate` (CA files and/or
//!   `system`, the operating system's store; unset means `system`), as APISIX does for etcd.
//! - `tls.verify: false` accepts any server certificate (handshake signatures are still
//!   checked) and is warned about at start-up.
//! - `tls.cert`/`tls.key` are the client certificate (mutual TLS); `tls.sni` the name sent and
//!   verified (default: each host's own name or IP).
//! - ALPN `h2` (gRPC). Each member gets its own connector ([`EtcdTlsConnector::for_host`]);
//!   the failover between members is [`super::members`]'. The last handshake failure is kept
//!   so that request errors can say why (for example `invalid peer certificate: UnknownIssuer`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::EtcdConfig;
use crate::store::StoreError;
use crate::tls::{accept_any_certificate, certs, provider};

/// HTTP/2 keep-alive on every member channel: a member that vanished (link down, host gone)
/// is noticed within about interval + timeout, even by an idle watch.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(3);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// One `https://` host.
#[derive(Debug, Clone)]
struct Host {
    /// `host:port` to connect to.
    addr: String,
    /// The name sent as SNI and verified.
    name: ServerName<'static>,
}

/// The connector tonic calls for every (re)connection.
#[derive(Clone)]
pub(super) struct EtcdTlsConnector {
    hosts: Arc<Vec<Host>>,
    tls: TlsConnector,
    connect_timeout: Duration,
    /// The last connection or handshake failure, cleared by a success.
    last_error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for EtcdTlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTlsConnector")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

fn setup_error(message: String) -> StoreError {
    StoreError::Unavailable(format!("etcd tls: {message}"))
}

impl EtcdTlsConnector {
    /// A connector for the `https://` hosts of `config`. Certificate files are read now, so a
    /// missing or broken file is reported at start-up.
    pub(super) fn new(config: &EtcdConfig) -> Result<Self, StoreError> {
        let mut hosts = Vec::new();
        for url in &config.hosts {
            let parsed = url::Url::parse(url)
                .map_err(|e| setup_error(format!("invalid etcd host {url:?}: {e}")))?;
            if parsed.scheme() != "https" {
                return Err(setup_error(format!(
                    "{url:?}: mixing http:// and https:// etcd hosts is not supported"
                )));
            }
            let host = parsed
                .host_str()
                .ok_or_else(|| setup_error(format!("{url:?} has no host")))?;
            let port = parsed.port_or_known_default().unwrap_or(443);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let sni = config.tls.sni.clone().unwrap_or_else(|| bare.to_owned());
            let name = ServerName::try_from(sni.clone())
                .map_err(|e| setup_error(format!("invalid server name {sni:?}: {e}")))?;
            hosts.push(Host {
                addr: format!("{host}:{port}"),
                name,
            });
        }
        let client = client_config(config)?;
        Ok(EtcdTlsConnector {
            hosts: Arc::new(hosts),
            tls: TlsConnector::from(Arc::new(client)),
            connect_timeout: config.timeout.max(Duration::from_millis(100)),
            last_error: Arc::new(Mutex::new(None)),
        })
    }

    /// A connector for host `index` alone (one per etcd member), with its own failure record.
    pub(super) fn for_host(&self, index: usize) -> EtcdTlsConnector {
        let host = self.hosts.get(index).cloned().into_iter().collect();
        EtcdTlsConnector {
            hosts: Arc::new(host),
            tls: self.tls.clone(),
            connect_timeout: self.connect_timeout,
            last_error: Arc::new(Mutex::new(None)),
        }
    }

    /// The last connection failure since the last success, if any.
    pub(super) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .expect("the last-error lock is never poisoned")
            .clone()
    }

    fn record(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .expect("the last-error lock is never poisoned") = error;
    }

    /// Connects to the (first) host and completes a handshake.
    async fn connect(self) -> std::io::Result<TokioIo<TlsStream<TcpStream>>> {
        let mut failures = Vec::new();
        for host in self.hosts.iter() {
            match self.handshake(host).await {
                Ok(stream) => {
                    self.record(None);
                    return Ok(TokioIo::new(stream));
                }
                Err(err) => failures.push(format!("{}: {err}", host.addr)),
            }
        }
        let message = failures.join("; ");
        tracing::debug!(error = %message, "etcd tls connection failed");
        self.record(Some(message.clone()));
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            message,
        ))
    }

    async fn handshake(&self, host: &Host) -> std::io::Result<TlsStream<TcpStream>> {
        let attempt = async {
            let tcp = TcpStream::connect(&host.addr).await?;
            let _ = tcp.set_nodelay(true);
            self.tls.connect(host.name.clone(), tcp).await
        };
        tokio::time::timeout(self.connect_timeout, attempt)
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "tls connect timed out")
            })?
    }
}

impl tower_service::Service<hyper::Uri> for EtcdTlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: hyper::Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}

/// The rustls client configuration: roots or no verification, client certificate, ALPN h2.
fn client_config(config: &EtcdConfig) -> Result<ClientConfig, StoreError> {
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| setup_error(e.to_string()))?;
    let builder = if config.tls.verify {
        builder.with_root_certificates(roots(config)?)
    } else {
        tracing::warn!(
            "deployment.etcd.tls.verify is false: the etcd server certificate is not verified"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(accept_any_certificate())
    };
    let mut client = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => {
            let chain = certs::parse_certs(&read(cert)?)
                .map_err(|e| setup_error(format!("{}: {e}", cert.display())))?;
            let key_der = certs::parse_private_key(&read(key)?)
                .map_err(|e| setup_error(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| setup_error(format!("client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(client)
}

fn read(path: &std::path::Path) -> Result<String, StoreError> {
    std::fs::read_to_string(path)
        .map_err(|e| setup_error(format!("reading {}: {e}", path.display())))
}

/// The CAs that verify etcd: the `ssl_trusted_certificate` files, plus the system store.
fn roots(config: &EtcdConfig) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    for path in &config.tls.trusted.files {
        let pem = read(path)?;
        let found = certs::roots_from_pem(&pem)
            .map_err(|e| setup_error(format!("ssl_trusted_certificate {}: {e}", path.display())))?;
        roots.roots.extend(found.roots);
    }
    if config.tls.trusted.system_roots {
        let native = rustls_native_certs::load_native_certs();
        for err in &native.errors {
            tracing::debug!(error = %err, "a system CA certificate could not be loaded");
        }
        roots.add_parsable_certificates(native.certs);
    }
    if roots.is_empty() {
        return Err(setup_error(
            "no CA certificate to verify etcd with: set apisix.ssl.ssl_trusted_certificate \
             (or deployment.etcd.tls.verify: false)"
                .to_owned(),
        ));
    }
    Ok(roots)
}

/// A lazily connecting tonic channel through `connector` (one member's host), with the
/// member channel settings. The origin is `https://<host>`.
pub(super) fn channel(
    connector: EtcdTlsConnector,
    connect_timeout: Duration,
) -> Result<tonic::transport::Channel, StoreError> {
    let first = connector
        .hosts
        .first()
        .ok_or_else(|| setup_error("no etcd host".to_owned()))?
        .addr
        .clone();
    // The connector does TLS itself, so tonic sees a plain `http://` endpoint; requests carry
    // the `https` origin.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{first}"))
        .map_err(|e| setup_error(format!("endpoint {first}: {e}")))?
        .origin(
            format!("https://{first}")
                .parse()
                .map_err(|e| setup_error(format!("origin {first}: {e}")))?,
        );
    Ok(with_member_settings(endpoint, connect_timeout).connect_with_connector_lazy(connector))
}

/// The settings of every member channel, plain or TLS: the connect timeout, HTTP/2
/// keep-alive (also while idle, so a lost member ends its watch), no Nagle delay.
pub(super) fn with_member_settings(
    endpoint: tonic::transport::Endpoint,
    connect_timeout: Duration,
) -> tonic::transport::Endpoint {
    endpoint
        .connect_timeout(connect_timeout)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
}
