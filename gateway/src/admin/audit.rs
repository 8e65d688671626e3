//! The audit trail of the Admin API (ours; APISIX has none): one JSON line per write —
//! `PUT`, `POST`, `PATCH`, `DELETE`, accepted or refused, and the Control API's connection
//! kills (which take the admin key) — appended to `deployment.admin.audit_log` (default
//! `logs/admin_audit.log`).
//!
//! A line: `{"time","api","key_name","role","client","method","path","status"}`, plus
//! `error_msg` when refused and `revision` (the store's revision after the write) when
//! accepted. The key itself is never written, nor the query string (it may hold `api_key`).
//!
//! Flow: a request handler builds an [`AuditEntry`] and calls [`AuditLog::record`], which
//! queues the line without waiting; one writer thread appends it (`O_APPEND`, one `write` per
//! line). [`AuditLog::reopen`] (SIGUSR1) goes through the same queue, so lines before it land in
//! the old file. A full queue or a failing disk drops the line with an error log: the request
//! itself never fails because of the audit trail.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hyper::HeaderMap;
use serde::Serialize;
use tokio::sync::mpsc;

use super::auth::{matching_key, presented_key};
use super::request::QueryArgs;
use crate::accesslog::format::rfc3339_millis;
use crate::config::AdminConfig;

/// Lines that may wait for the writer before new ones are dropped.
const QUEUE: usize = 4096;

/// One audited request.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    /// `admin` or `control`.
    pub api: &'static str,
    /// The name of the key presented (`deployment.admin.admin_key[].name`); null when none
    /// matched.
    pub key_name: Option<String>,
    /// Its role (`admin`, `viewer`).
    pub role: Option<String>,
    /// The client's address and port.
    pub client: String,
    pub method: String,
    /// The request path, without the query string.
    pub path: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// Who sent a request, as far as the audit trail tells: the matching key's name and role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub key_name: Option<String>,
    pub role: Option<String>,
}

impl Caller {
    /// The key the request presents, looked up among the configured keys.
    pub(crate) fn identify(admin: &AdminConfig, headers: &HeaderMap, args: &QueryArgs) -> Caller {
        let key = presented_key(headers, args).and_then(|token| matching_key(admin, &token));
        Caller {
            key_name: key.map(|k| k.name.clone()),
            role: key.map(|k| k.role.clone()),
        }
    }
}

/// Whether `method` changes something (and is audited).
pub fn is_write(method: &hyper::Method) -> bool {
    use hyper::Method;
    [Method::PUT, Method::POST, Method::PATCH, Method::DELETE].contains(method)
}

impl AuditEntry {
    /// An entry stamped now; `error_msg` is taken from `body` when `status` is not 2xx.
    pub fn new(
        api: &'static str,
        caller: Caller,
        client: SocketAddr,
        method: &hyper::Method,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> AuditEntry {
        let refused = !(200..300).contains(&status);
        AuditEntry {
            time: rfc3339_millis(SystemTime::now()),
            api,
            key_name: caller.key_name,
            role: caller.role,
            client: client.to_string(),
            method: method.to_string(),
            path: path.to_owned(),
            status,
            error_msg: refused.then(|| error_message(status, body)),
            revision: None,
        }
    }
}

/// The refusal's message: `error_msg` (with `description`), `message`, or the status text.
fn error_message(status: u16, body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = |key: &str| {
        json.as_ref()
            .and_then(|v| v.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    match (
        text("error_msg").or_else(|| text("message")),
        text("description"),
    ) {
        (Some(msg), Some(why)) => format!("{msg}: {why}"),
        (Some(msg), None) => msg,
        _ => hyper::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_lowercase(),
    }
}

enum Command {
    Line(String),
    Reopen,
}

/// The audit trail's writer handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Command>,
    path: PathBuf,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Line(_) => "Line",
            Command::Reopen => "Reopen",
        })
    }
}

impl AuditLog {
    /// Starts the writer for `path`. The file is opened now; if that fails it is logged and
    /// retried for each line.
    pub fn start(path: &Path) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            path: path.to_owned(),
            file: None,
        };
        let spawned = std::thread::Builder::new()
            .name("admin-audit".into())
            .spawn(move || writer.run(rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "admin audit log: cannot start its writer");
        }
        tracing::info!(path = %path.display(), "admin audit log");
        AuditLog {
            tx,
            path: path.to_owned(),
        }
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `entry`; never waits and never fails the caller.
    pub fn record(&self, entry: &AuditEntry) {
        let line = match serde_json::to_string(entry) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "admin audit log: cannot encode an entry");
                return;
            }
        };
        if self.tx.try_send(Command::Line(line)).is_err() {
            tracing::error!(path = %self.path.display(), "admin audit log: queue full or writer gone; line dropped");
        }
    }

    /// Reopens the file (after a rotation), once the lines queued before are written.
    pub fn reopen(&self) {
        if self.tx.try_send(Command::Reopen).is_err() {
            tracing::error!(path = %self.path.display(), "admin audit log: cannot queue the reopen");
        }
    }
}

struct Writer {
    path: PathBuf,
    file: Option<File>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        self.open();
        while let Some(command) = rx.blocking_recv() {
            match command {
                Command::Line(line) => self.append(&line),
                Command::Reopen => {
                    self.file = None;
                    self.open();
                    tracing::info!(path = %self.path.display(), "admin audit log reopened");
                }
            }
        }
    }

    fn open(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(file) => self.file = Some(file),
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "admin audit log: cannot open");
            }
        }
    }

    fn append(&mut self, line: &str) {
        if self.file.is_none() {
            self.open();
        }
        let Some(file) = &mut self.file else { return };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes) {
            tracing::error!(path = %self.path.display(), error = %e, "admin audit log: write failed; line dropped");
            self.file = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdminKey;

    /// An entry for key `admin` from `client` (127.0.0.1:1 when `None`).
    fn entry(
        client: Option<SocketAddr>,
        method: hyper::Method,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> AuditEntry {
        let client = client.unwrap_or_else(|| "127.0.0.1:1".parse().expect("addr"));
        AuditEntry::new(
            "admin",
            Caller::default(),
            client,
            &method,
            path,
            status,
            body,
        )
    }

    fn admin() -> AdminConfig {
        AdminConfig {
            listen: "127.0.0.1:9180".parse().expect("addr"),
            key_required: true,
            keys: vec![
                AdminKey {
                    name: "ci".into(),
                    key: "secret-admin".into(),
                    role: "admin".into(),
                },
                AdminKey::for_role("viewer", "secret-viewer"),
            ],
            allow_admin: None,
            ..crate::config::Config::defaults(std::path::Path::new("/")).admin
        }
    }

    #[test]
    fn caller_is_named_by_the_key_name_never_the_key() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "secret-admin".parse().expect("header"));
        let caller = Caller::identify(&admin(), &headers, &QueryArgs::default());
        assert_eq!(caller.key_name.as_deref(), Some("ci"));
        assert_eq!(caller.role.as_deref(), Some("admin"));
        let by_query = Caller::identify(
            &admin(),
            &HeaderMap::new(),
            &QueryArgs::parse(Some("api_key=secret-viewer")),
        );
        assert_eq!(by_query.role.as_deref(), Some("viewer"));
        let wrong = Caller::identify(
            &admin(),
            &HeaderMap::new(),
            &QueryArgs::parse(Some("api_key=nope")),
        );
        assert_eq!(wrong, Caller::default());
    }

    #[test]
    fn refused_entry_carries_error_msg_and_accepted_one_does_not() {
        let client: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let body = br#"{"error_msg":"failed to check token","description":"wrong apikey"}"#;
        let refused = entry(
            Some(client),
            hyper::Method::PUT,
            "/apisix/admin/upstreams/1",
            401,
            body,
        );
        let line = serde_json::to_value(&refused).expect("json");
        assert_eq!(line["error_msg"], "failed to check token: wrong apikey");
        assert_eq!(line["key_name"], serde_json::Value::Null);
        assert!(line.get("revision").is_none());
        let page = entry(Some(client), hyper::Method::DELETE, "/x", 403, b"<html>");
        assert_eq!(page.error_msg.as_deref(), Some("forbidden"));
        let ok = entry(Some(client), hyper::Method::DELETE, "/x", 200, b"{}");
        assert_eq!(ok.error_msg, None);
    }

    #[test]
    fn lines_are_appended_and_reopen_follows_a_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/audit.log");
        let log = AuditLog::start(&path);
        let entry = entry(
            None,
            hyper::Method::POST,
            "/apisix/admin/upstreams",
            201,
            b"{}",
        );
        log.record(&entry);
        let rotated = dir.path().join("logs/audit.log.1");
        let lines = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        wait_for(|| lines(&path) == 1);
        std::fs::rename(&path, &rotated).expect("rotate");
        log.reopen();
        log.record(&entry);
        wait_for(|| lines(&path) == 1);
        assert_eq!(lines(&rotated), 1);
    }

    #[test]
    fn an_unwritable_log_drops_lines_without_failing_or_blocking_the_caller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "").expect("write");
        // `<file>/audit.log` can never be opened: every line is dropped with an error log.
        let log = AuditLog::start(&blocker.join("audit.log"));
        let entry = entry(
            None,
            hyper::Method::PUT,
            "/apisix/admin/upstreams/1",
            200,
            b"{}",
        );
        let started = std::time::Instant::now();
        for _ in 0..(QUEUE * 2) {
            log.record(&entry);
        }
        log.reopen();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(!blocker.join("audit.log").exists());
    }

    fn wait_for(cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
