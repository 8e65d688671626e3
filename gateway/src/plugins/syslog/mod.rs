//! The `syslog` stream plugin (priority 401, log phase): one RFC 5424 message per finished
//! session on a route that configures it, batched and sent to `host:port` over TCP (optionally
//! TLS) or UDP, never on the data path.
//!
//! Flow: the route's conf (and the plugin metadata's `log_format` and
//! `max_pending_entries`) is compiled with the snapshot into a [`SyslogPlugin`] (not when the
//! plugin is missing from `stream_plugins` or has `_meta.disable`) → its log phase builds the
//! session's entry ([`entry`]) and hands it with `try_send` to the batch worker of that conf
//! ([`sender`]), kept in the [`SyslogLogger`] across snapshots. A full queue drops the entry
//! (counted, logged); nothing here ever waits on the network.
//!
//! Entry: `log_format` from the conf, else from the plugin metadata (`$var` values are stream
//! variables, other values literal, nested objects allowed), plus `route_id` and `service_id`.
//! Without any `log_format` APISIX logs `syslog's log_format is not set` and sends nothing;
//! this gateway sends [`entry::default_entry`] instead. Each entry is JSON wrapped as
//! `<46>1 <time> - apisix <pid> - - <json>\n` (facility SYSLOG, severity INFO, like
//! `apisix/utils/rfc5424.lua`; `$host` does not exist in stream, hence `-`).

pub mod entry;
mod plugin;
pub mod sender;

pub use plugin::{build, SyslogPlugin};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// Queue length of one batch worker when the metadata sets no `max_pending_entries`
/// (APISIX's default).
pub const DEFAULT_MAX_PENDING: usize = 8192;

/// `sock_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Tcp,
    Udp,
}

/// A parsed `syslog` conf with APISIX's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConf {
    pub host: String,
    pub port: u16,
    pub sock_type: SockType,
    /// Connect / send timeout (`timeout`, milliseconds, default 3000).
    pub timeout: Duration,
    /// Bytes buffered before a write (`flush_limit`, default 4096).
    pub flush_limit: usize,
    /// Bytes beyond which a message is dropped (`drop_limit`, default 1048576).
    pub drop_limit: usize,
    /// TLS over TCP (`tls`, default false; the certificate is not verified).
    pub tls: bool,
    /// `batch_max_size` (default 1000).
    pub batch_max_size: usize,
    /// `inactive_timeout` (seconds, default 5).
    pub inactive_timeout: Duration,
    /// `buffer_duration` (seconds, default 60).
    pub buffer_duration: Duration,
    /// `max_retry_count` (default 0).
    pub max_retry_count: u32,
    /// `retry_delay` (seconds, default 1).
    pub retry_delay: Duration,
    /// `log_format` of the conf.
    pub log_format: Option<serde_json::Map<String, Value>>,
}

impl SyslogConf {
    /// Reads a conf already validated against the plugin schema.
    pub fn parse(conf: &Value) -> Option<SyslogConf> {
        let int =
            |key: &str, default: u64| conf.get(key).and_then(Value::as_u64).unwrap_or(default);
        let secs = |key: &str, default: u64| Duration::from_secs(int(key, default));
        Some(SyslogConf {
            host: conf.get("host")?.as_str()?.to_owned(),
            port: u16::try_from(conf.get("port")?.as_u64()?).ok()?,
            sock_type: match conf.get("sock_type").and_then(Value::as_str) {
                Some("udp") => SockType::Udp,
                _ => SockType::Tcp,
            },
            timeout: Duration::from_millis(int("timeout", 3000).max(1)),
            flush_limit: usize::try_from(int("flush_limit", 4096)).unwrap_or(usize::MAX),
            drop_limit: usize::try_from(int("drop_limit", 1_048_576)).unwrap_or(usize::MAX),
            tls: conf.get("tls").and_then(Value::as_bool).unwrap_or(false),
            batch_max_size: usize::try_from(int("batch_max_size", 1000).max(1))
                .unwrap_or(usize::MAX),
            inactive_timeout: secs("inactive_timeout", 5),
            buffer_duration: secs("buffer_duration", 60),
            max_retry_count: u32::try_from(int("max_retry_count", 0)).unwrap_or(u32::MAX),
            retry_delay: secs("retry_delay", 1),
            log_format: conf.get("log_format").and_then(Value::as_object).cloned(),
        })
    }
}

/// Counters of the plugin, shared with the workers.
#[derive(Debug, Default)]
pub struct SyslogStats {
    /// Entries handed to a worker.
    pub queued: AtomicU64,
    /// Entries dropped because a worker's queue was full.
    pub dropped: AtomicU64,
    /// Entries written to a socket.
    pub sent: AtomicU64,
    /// Entries dropped after their batch failed `max_retry_count + 1` times, or beyond
    /// `drop_limit`.
    pub failed: AtomicU64,
}

/// One running batch worker.
#[derive(Debug)]
struct Worker {
    tx: mpsc::Sender<String>,
}

/// The plugin's batch workers (one per distinct conf) and counters, shared by every
/// snapshot.
#[derive(Debug, Default)]
pub struct SyslogLogger {
    workers: Mutex<HashMap<String, Worker>>,
    stats: Arc<SyslogStats>,
}

impl SyslogLogger {
    /// The plugin's counters.
    pub fn stats(&self) -> &Arc<SyslogStats> {
        &self.stats
    }

    /// Entries dropped because a queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Entries written to a syslog server.
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    /// Hands `message` to the worker of `key` (started with `conf` when there is none), or
    /// drops it when that worker's queue is full. Never waits.
    pub fn queue(&self, key: String, conf: SyslogConf, max_pending: usize, message: String) {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut message = message;
        if !workers.contains_key(&key) {
            workers.retain(|_, w| !w.tx.is_closed());
        }
        for _ in 0..2 {
            let worker = workers.entry(key.clone()).or_insert_with(|| Worker {
                tx: sender::spawn(conf.clone(), max_pending, self.stats.clone()),
            });
            match worker.tx.try_send(message) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(
                            server = %format!("{}:{}", conf.host, conf.port), dropped,
                            "syslog: max pending entries limit exceeded. discarding entry."
                        );
                    }
                    return;
                }
                // The worker ended after being idle: start a new one.
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    workers.remove(&key);
                    message = m;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
