//! The stream access log (`nginx_config.stream.enable_access_log`, `access_log`,
//! `access_log_format`, `access_log_format_escape`; `apisix.log_format: json` writes each
//! line as a JSON object of the format's variables, see [`LogFormat::json_objects`]).
//!
//! The data path hands each [`SessionRecord`] to [`AccessLogSender::send`], which never
//! blocks: records go through a bounded channel to one background task that formats and
//! appends them; when the channel is full the record is dropped and counted. The task
//! reopens the file on [`AccessLogSender::reopen`] (SIGUSR1, for log rotation).

pub mod format;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{LineFormat, StreamLogConfig};
use crate::session::{SessionRecord, SessionSink};
pub use format::{Escape, LogFormat};

/// Records queued for the writer before new ones are dropped.
pub const QUEUE: usize = 8192;

enum Msg {
    Record(Box<SessionRecord>),
    Reopen(oneshot::Sender<io::Result<()>>),
    Flush(oneshot::Sender<io::Result<()>>),
}

/// The data path's handle on the access log writer.
#[derive(Debug, Clone)]
pub struct AccessLogSender {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("access log message")
    }
}

impl SessionSink for AccessLogSender {
    fn finish(&self, record: &SessionRecord) {
        self.send(record);
    }
}

impl AccessLogSender {
    /// Queues `record`; drops (and counts) it when the queue is full.
    pub fn send(&self, record: &SessionRecord) {
        if self
            .tx
            .try_send(Msg::Record(Box::new(record.clone())))
            .is_err()
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(10_000) {
                tracing::warn!(dropped_total = n, "access log queue full: dropping records");
            }
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out what is queued, then reopens the file (after a rotation moved it away).
    pub async fn reopen(&self) -> io::Result<()> {
        self.command(Msg::Reopen).await
    }

    /// Waits until every record queued so far is written to the file.
    pub async fn flush(&self) -> io::Result<()> {
        self.command(Msg::Flush).await
    }

    async fn command(
        &self,
        make: impl FnOnce(oneshot::Sender<io::Result<()>>) -> Msg,
    ) -> io::Result<()> {
        let (done_tx, done_rx) = oneshot::channel();
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "access log writer stopped");
        self.tx.send(make(done_tx)).await.map_err(|_| gone())?;
        done_rx.await.map_err(|_| gone())?
    }
}

/// Opens the log and starts its writer when `config` enables it (`None` otherwise), writing
/// `lines` (`apisix.log_format`). The writer ends when every sender is dropped.
pub async fn start(
    config: &StreamLogConfig,
    lines: LineFormat,
) -> io::Result<Option<(AccessLogSender, JoinHandle<()>)>> {
    if !config.enable_access_log {
        return Ok(None);
    }
    let escape = Escape::parse(&config.access_log_format_escape);
    let (format, unknown) = LogFormat::parse(&config.access_log_format, escape);
    if !unknown.is_empty() {
        tracing::warn!(variables = ?unknown, "access_log_format: unknown variables are logged as missing");
    }
    let format = match lines {
        LineFormat::Text => format,
        LineFormat::Json => format.json_objects(),
    };
    let started = spawn(config.access_log.clone(), format).await?;
    Ok(Some(started))
}

/// Opens `path` for appending and starts a writer formatting with `format`.
pub async fn spawn(
    path: PathBuf,
    format: LogFormat,
) -> io::Result<(AccessLogSender, JoinHandle<()>)> {
    let file = open(&path).await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let sender = AccessLogSender {
        tx,
        dropped: Arc::new(AtomicU64::new(0)),
        path: Arc::new(path.clone()),
    };
    let task = tokio::spawn(write_loop(rx, path, format, BufWriter::new(file)));
    Ok((sender, task))
}

async fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("access log {}: {e}", path.display())))
}

async fn write_loop(
    mut rx: mpsc::Receiver<Msg>,
    path: PathBuf,
    format: LogFormat,
    mut out: BufWriter<File>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Record(record) => {
                let mut line = format.render(&record);
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()).await {
                    tracing::warn!(path = %path.display(), error = %e, "access log write failed");
                }
                // Flush once the burst is written, so lines show up promptly.
                if rx.is_empty() {
                    if let Err(e) = out.flush().await {
                        tracing::warn!(path = %path.display(), error = %e, "access log flush failed");
                    }
                }
            }
            Msg::Flush(done) => {
                let _ = done.send(out.flush().await);
            }
            Msg::Reopen(done) => {
                if let Err(e) = out.flush().await {
                    tracing::warn!(path = %path.display(), error = %e, "access log flush failed");
                }
                let result = match open(&path).await {
                    Ok(file) => {
                        out = BufWriter::new(file);
                        tracing::info!(path = %path.display(), "access log reopened");
                        Ok(())
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "access log reopen failed: keeping the old file");
                        Err(e)
                    }
                };
                let _ = done.send(result);
            }
        }
    }
    let _ = out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let sender = AccessLogSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            path: Arc::new(PathBuf::from("unused.log")),
        };
        let record = format::tests::record();
        for _ in 0..3 {
            sender.send(&record);
        }
        assert_eq!(sender.dropped(), 2);
    }
}
