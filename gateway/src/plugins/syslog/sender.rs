//! One batch worker per `syslog` conf: APISIX's batch processor in front of
//! `resty.logger.socket`.
//!
//! Batching: entries are collected until `batch_max_size` of them, `inactive_timeout` without
//! a new one, or `buffer_duration` since the first; the batch (messages concatenated) is then
//! logged, and retried `max_retry_count` times `retry_delay` apart before it is dropped.
//! Logging (the logger socket): bytes are buffered until `flush_limit` would be reached, then
//! written (one UDP datagram, or onto the TCP/TLS connection, which is kept); a message that
//! would push the buffer past `drop_limit` is dropped. Connect and write each have `timeout`.
//! The worker ends after [`IDLE_EXIT`] without entries, writing what is still buffered.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{SockType, SyslogConf, SyslogStats};
use crate::tls::accept_any_certificate;

/// A worker with no entries for this long stops (APISIX caches its logger for 300 s).
pub const IDLE_EXIT: Duration = Duration::from_secs(300);

/// Starts a worker for `conf` with a queue of `capacity` entries; returns its queue.
pub fn spawn(conf: SyslogConf, capacity: usize, stats: Arc<SyslogStats>) -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    tokio::spawn(run(conf, rx, stats));
    tx
}

async fn run(conf: SyslogConf, mut rx: mpsc::Receiver<String>, stats: Arc<SyslogStats>) {
    let mut out = Output::new(conf.clone());
    let mut batch: Vec<String> = Vec::new();
    let mut first_at = Instant::now();
    let mut last_at = Instant::now();
    loop {
        let deadline = if batch.is_empty() {
            last_at + IDLE_EXIT
        } else {
            (last_at + conf.inactive_timeout).min(first_at + conf.buffer_duration)
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => {
                    last_at = Instant::now();
                    if batch.is_empty() {
                        first_at = last_at;
                    }
                    batch.push(msg);
                    if batch.len() >= conf.batch_max_size {
                        flush(&conf, &mut out, &mut batch, &stats).await;
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => {
                if batch.is_empty() {
                    break;
                }
                flush(&conf, &mut out, &mut batch, &stats).await;
            }
        }
    }
    // Close the queue first so the logger starts a new worker for later entries.
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        batch.push(msg);
    }
    flush(&conf, &mut out, &mut batch, &stats).await;
    if let Err(e) = out.write_buffer().await {
        tracing::warn!(server = %out.server(), error = %e, "syslog: failed to flush message");
    }
}

/// Logs `batch` with retries, then empties it.
async fn flush(conf: &SyslogConf, out: &mut Output, batch: &mut Vec<String>, stats: &SyslogStats) {
    if batch.is_empty() {
        return;
    }
    let count = batch.len() as u64;
    let payload = batch.concat();
    batch.clear();
    tracing::debug!(server = %out.server(), entries = count, "syslog: sending a batch logs");
    for attempt in 0..=conf.max_retry_count {
        match out.log(&payload).await {
            Ok(true) => {
                stats.sent.fetch_add(count, Ordering::Relaxed);
                return;
            }
            Ok(false) => {
                stats.failed.fetch_add(count, Ordering::Relaxed);
                tracing::warn!(server = %out.server(), "syslog: logger buffer is full, batch dropped");
                return;
            }
            Err(e) => {
                tracing::error!(server = %out.server(), attempt = attempt + 1, error = %e,
                    "syslog: failed to log message");
                if attempt < conf.max_retry_count {
                    tokio::time::sleep(conf.retry_delay).await;
                }
            }
        }
    }
    stats.failed.fetch_add(count, Ordering::Relaxed);
    tracing::error!(
        server = %out.server(), max_retry_count = conf.max_retry_count, entries = count,
        "syslog: exceeded the max_retry_count, dropping the entries"
    );
}

type Conn = Box<dyn AsyncWrite + Unpin + Send + Sync>;

/// The logger socket: a byte buffer and a lazily (re)connected socket.
struct Output {
    conf: SyslogConf,
    buffer: String,
    tcp: Option<Conn>,
    udp: Option<UdpSocket>,
}

impl Output {
    fn new(conf: SyslogConf) -> Output {
        Output {
            conf,
            buffer: String::new(),
            tcp: None,
            udp: None,
        }
    }

    fn server(&self) -> String {
        format!("{}:{}", self.conf.host, self.conf.port)
    }

    /// `resty.logger.socket`'s `log`: `Ok(true)` accepted (buffered or written),
    /// `Ok(false)` dropped beyond `drop_limit`.
    async fn log(&mut self, msg: &str) -> std::io::Result<bool> {
        let total = msg.len() + self.buffer.len();
        if total < self.conf.flush_limit {
            self.buffer.push_str(msg);
            Ok(true)
        } else if total <= self.conf.drop_limit {
            self.buffer.push_str(msg);
            self.write_buffer().await.map(|()| true)
        } else {
            self.write_buffer().await?;
            Ok(false)
        }
    }

    /// Writes and empties the buffer; on failure the buffer is discarded and the
    /// connection dropped (the batch retry logs the payload again).
    async fn write_buffer(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buffer);
        let timeout = self.conf.timeout;
        let result = tokio::time::timeout(timeout, self.send(data.as_bytes()))
            .await
            .unwrap_or_else(|_| Err(timed_out("send", timeout)));
        if result.is_err() {
            self.tcp = None;
            self.udp = None;
        }
        result
    }

    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.conf.sock_type {
            SockType::Udp => {
                if self.udp.is_none() {
                    let target = (self.conf.host.as_str(), self.conf.port);
                    let addr = tokio::net::lookup_host(target)
                        .await?
                        .next()
                        .ok_or_else(|| {
                            std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
                        })?;
                    let bind = if addr.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let socket = UdpSocket::bind(bind).await?;
                    socket.connect(addr).await?;
                    self.udp = Some(socket);
                }
                let socket = self.udp.as_ref().expect("connected just above");
                socket.send(data).await.map(|_| ())
            }
            SockType::Tcp => {
                if self.tcp.is_none() {
                    self.tcp = Some(self.connect().await?);
                }
                let conn = self.tcp.as_mut().expect("connected just above");
                conn.write_all(data).await?;
                conn.flush().await
            }
        }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        let target = (self.conf.host.as_str(), self.conf.port);
        let stream = tokio::time::timeout(self.conf.timeout, TcpStream::connect(target))
            .await
            .unwrap_or_else(|_| Err(timed_out("connect", self.conf.timeout)))?;
        if !self.conf.tls {
            return Ok(Box::new(stream));
        }
        let config = ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(accept_any_certificate())
            .with_no_client_auth();
        let name = ServerName::try_from(self.conf.host.clone()).map_err(std::io::Error::other)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await?;
        Ok(Box::new(tls))
    }
}

fn timed_out(what: &str, after: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} timed out after {after:?}"),
    )
}
