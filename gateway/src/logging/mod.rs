//! The gateway's own log (nginx's "error log"): where it goes, at which level, in which line
//! format, set up once at start from [`crate::config::LogSettings`].
//!
//! Lines go through `tracing-appender`'s non-blocking writer: a bounded queue of
//! [`QUEUE_LINES`] lines drained by one thread. When the log's disk (or the pipe to journald)
//! is slow and the queue is full, a new line is dropped and counted instead of making the
//! data path wait; [`dropped_lines`] is exported as `apisix_error_log_dropped_total`.
//! [`reopen`] (SIGUSR1) reopens the log file at its path after logrotate moved it away.
//!
//! The level: `--log-level`, else `RUST_LOG`, else `nginx_config.error_log_level`.

mod file;
pub mod json;

use std::io;
use std::sync::{Arc, OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LineFormat, LogSettings};
pub use file::{ReopenableFile, ReopenableWriter};

/// Lines queued for the log writer thread before new ones are dropped.
pub const QUEUE_LINES: usize = 16_384;

/// The log in force: the file to reopen and the drop counter.
#[derive(Debug)]
struct Installed {
    file: Option<Arc<ReopenableFile>>,
    dropped: ErrorCounter,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Keeps the log writer thread running; dropping it writes out what is queued.
#[must_use = "the log writer stops when the guard is dropped"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the process-wide log for `settings`. `filter` (`--log-level` or `RUST_LOG`, an
/// `EnvFilter` directive) replaces the configured level when given. Fails when the log file
/// cannot be opened, or when a log is already installed.
pub fn init(settings: &LogSettings, filter: Option<&str>) -> io::Result<LogGuard> {
    let filter = EnvFilter::new(filter.unwrap_or(settings.level.tracing_filter()));
    let (file, to_terminal) = match &settings.error_log {
        Some(path) => (Some(ReopenableFile::open(path)?), false),
        None => (None, std::io::IsTerminal::is_terminal(&io::stderr())),
    };
    let builder = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("apisix-error-log");
    let (writer, guard) = match &file {
        Some(file) => builder.finish(file.writer()),
        None => builder.finish(io::stderr()),
    };
    let dropped = writer.error_counter();
    let installed = match settings.format {
        LineFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(to_terminal)
            .try_init(),
        LineFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .event_format(json::JsonLines)
            .try_init(),
    };
    installed.map_err(|e| io::Error::other(format!("cannot install the log: {e}")))?;
    let _ = INSTALLED.set(Installed { file, dropped });
    Ok(LogGuard { _writer: guard })
}

/// Reopens the log file at its path (SIGUSR1); nothing to do when logging to stderr.
pub fn reopen() -> io::Result<()> {
    match INSTALLED.get().and_then(|log| log.file.as_ref()) {
        Some(file) => {
            file.reopen()?;
            tracing::info!(path = %file.path().display(), "error log reopened");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Log lines dropped so far because the writer fell behind (0 before [`init`]).
pub fn dropped_lines() -> u64 {
    INSTALLED
        .get()
        .map_or(0, |log| log.dropped.dropped_lines() as u64)
}
