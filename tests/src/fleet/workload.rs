//! Load that runs through a fault: Admin API churn and long-lived echo sessions.
//!
//! - [`AdminChurn`]: one task per gateway cycling PUT upstream, PUT stream route (on port 9,
//!   where no listener is, so traffic never meets it), GET both, DELETE both, and counting
//!   every answer: a request succeeds only with the expected status (transport errors and
//!   timeouts are failures). [`AdminChurn::stop`] ends each task between cycles.
//! - [`LiveSessions`]: TCP connections through a gateway, opened before the fault, each
//!   round-tripping random payloads (1 B to 32 KiB, compared byte for byte) until stopped;
//!   the first error ends a session and is reported.
//!
//! Progress can be awaited ([`AdminChurn::wait_attempts`], [`LiveSessions::wait_round_trips`])
//! so a test can require load *during* a fault, not only before and after it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng as _, RngCore as _};
use reqwest::Method;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gateway::AdminHandle;
use crate::{client, wait};

/// Pause between two churn cycles of one gateway.
const CHURN_PAUSE: Duration = Duration::from_millis(50);
/// Pause between two round trips of one session.
const SESSION_PAUSE: Duration = Duration::from_millis(50);
/// Largest random payload of a session round trip.
const MAX_PAYLOAD: usize = 32 * 1024;
/// How long a stopped task may take to finish its current step.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What one gateway's churn saw.
#[derive(Debug, Clone, Default)]
pub struct ChurnStats {
    /// The gateway (`gw1`, ...).
    pub label: String,
    /// Requests answered with the expected status.
    pub ok: usize,
    /// Requests that failed.
    pub failed: usize,
    /// The first few failures: request, status or error, latency.
    pub failures: Vec<String>,
    /// Answers by status (0: no answer).
    pub statuses: BTreeMap<u16, usize>,
    /// The slowest answer.
    pub max_latency: Duration,
}

impl ChurnStats {
    /// `gw1: 120/120 ok, max 0.31 s`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {}/{} ok, max latency {:.2?}, statuses {:?}",
            self.label,
            self.ok,
            self.ok + self.failed,
            self.max_latency,
            self.statuses
        )
    }
}

/// Admin API churn against some gateways.
#[derive(Debug)]
pub struct AdminChurn {
    stop: watch::Sender<bool>,
    attempts: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<ChurnStats>>,
}

impl AdminChurn {
    /// Starts one churn task per `(label, gateway)`; objects point at `node`.
    pub fn start(targets: Vec<(String, AdminHandle)>, node: &str) -> AdminChurn {
        let (stop, stopped) = watch::channel(false);
        let attempts = Arc::new(AtomicUsize::new(0));
        let tasks = targets
            .into_iter()
            .map(|(label, admin)| {
                let stopped = stopped.clone();
                let attempts = attempts.clone();
                let node = node.to_string();
                tokio::spawn(churn(label, admin, node, stopped, attempts))
            })
            .collect();
        AdminChurn {
            stop,
            attempts,
            tasks,
        }
    }

    /// Requests sent so far, over all gateways.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Waits until `more` requests have been sent from now on (within `limit`).
    pub async fn wait_attempts(&self, more: usize, limit: Duration) -> anyhow::Result<()> {
        let target = self.attempts() + more;
        wait::until(&format!("{more} more admin requests"), limit, || async {
            (self.attempts() >= target).then_some(())
        })
        .await
    }

    /// Stops every task after its current cycle and returns what each saw.
    pub async fn stop(self) -> anyhow::Result<Vec<ChurnStats>> {
        self.stop.send_replace(true);
        let mut all = Vec::new();
        for task in self.tasks {
            all.push(tokio::time::timeout(STOP_TIMEOUT, task).await??);
        }
        Ok(all)
    }
}

async fn churn(
    label: String,
    admin: AdminHandle,
    node: String,
    stopped: watch::Receiver<bool>,
    attempts: Arc<AtomicUsize>,
) -> ChurnStats {
    let mut stats = ChurnStats {
        label: label.clone(),
        ..ChurnStats::default()
    };
    let mut cycle = 0usize;
    while !*stopped.borrow() {
        let id = format!("churn-{label}-{cycle}");
        let upstream = json!({"type": "roundrobin", "nodes": {node.as_str(): 1}});
        let route = json!({"server_port": 9, "upstream_id": id});
        let steps = [
            (Method::PUT, format!("/upstreams/{id}"), Some(upstream)),
            (Method::PUT, format!("/stream_routes/{id}"), Some(route)),
            (Method::GET, format!("/stream_routes/{id}"), None),
            (Method::GET, format!("/upstreams/{id}"), None),
            (Method::DELETE, format!("/stream_routes/{id}"), None),
            (Method::DELETE, format!("/upstreams/{id}"), None),
        ];
        for (method, path, body) in steps {
            attempts.fetch_add(1, Ordering::SeqCst);
            let what = format!("{method} {path}");
            let mut req = admin.request(method, &path);
            if let Some(body) = &body {
                req = req.json(body);
            }
            let started = Instant::now();
            let answer = req.try_send().await;
            let latency = started.elapsed();
            stats.max_latency = stats.max_latency.max(latency);
            let (status, detail) = match &answer {
                Ok(reply) => (reply.status, reply.text.clone()),
                Err(e) => (0, format!("{e:#}")),
            };
            *stats.statuses.entry(status).or_default() += 1;
            if (200..300).contains(&status) {
                stats.ok += 1;
            } else {
                stats.failed += 1;
                if stats.failures.len() < 5 {
                    stats.failures.push(format!(
                        "{label} {what}: {status} {} after {latency:.2?}",
                        detail.trim()
                    ));
                }
            }
        }
        cycle += 1;
        tokio::time::sleep(CHURN_PAUSE).await;
    }
    stats
}

/// What one long-lived session saw.
#[derive(Debug, Clone, Default)]
pub struct SessionStats {
    /// Which gateway and listener it went through.
    pub label: String,
    /// Round trips that came back exact.
    pub round_trips: usize,
    /// Bytes sent (and received back).
    pub bytes: usize,
    /// The error that ended it, if any.
    pub error: Option<String>,
}

/// Long-lived echo sessions through gateways.
#[derive(Debug)]
pub struct LiveSessions {
    stop: watch::Sender<bool>,
    counters: Vec<Arc<AtomicUsize>>,
    tasks: Vec<JoinHandle<SessionStats>>,
}

impl LiveSessions {
    /// Opens one session per `(label, listener)`; each must greet with `greeting` (a node
    /// name; connections greeted by another node are closed and tried again, up to 8 times).
    pub async fn open(
        targets: &[(String, SocketAddr)],
        greeting: &str,
    ) -> anyhow::Result<LiveSessions> {
        let (stop, stopped) = watch::channel(false);
        let mut counters = Vec::new();
        let mut tasks = Vec::new();
        for (label, addr) in targets {
            let stream = connect_greeted(*addr, greeting).await?;
            let counter = Arc::new(AtomicUsize::new(0));
            counters.push(counter.clone());
            tasks.push(tokio::spawn(session(
                label.clone(),
                stream,
                stopped.clone(),
                counter,
            )));
        }
        Ok(LiveSessions {
            stop,
            counters,
            tasks,
        })
    }

    /// Waits until every session has made `more` round trips from now on (within `limit`);
    /// fails early when one has ended.
    pub async fn wait_round_trips(&self, more: usize, limit: Duration) -> anyhow::Result<()> {
        let targets: Vec<usize> = self
            .counters
            .iter()
            .map(|c| c.load(Ordering::SeqCst) + more)
            .collect();
        wait::until(
            &format!("{more} more round trips on every live session"),
            limit,
            || async {
                if self.tasks.iter().any(JoinHandle::is_finished) {
                    // An ended session never progresses again: report it at stop().
                    return Some(());
                }
                let done = self
                    .counters
                    .iter()
                    .zip(&targets)
                    .all(|(c, t)| c.load(Ordering::SeqCst) >= *t);
                done.then_some(())
            },
        )
        .await?;
        anyhow::ensure!(
            !self.tasks.iter().any(JoinHandle::is_finished),
            "a live session ended (see stop() for its error)"
        );
        Ok(())
    }

    /// Stops every session after its current round trip and returns what each saw.
    pub async fn stop(self) -> anyhow::Result<Vec<SessionStats>> {
        self.stop.send_replace(true);
        let mut all = Vec::new();
        for task in self.tasks {
            all.push(tokio::time::timeout(STOP_TIMEOUT, task).await??);
        }
        Ok(all)
    }
}

/// Connects to `addr` until the connection greets with `greeting` (8 tries).
pub async fn connect_greeted(
    addr: SocketAddr,
    greeting: &str,
) -> anyhow::Result<tokio::net::TcpStream> {
    let mut last = String::new();
    for _ in 0..8 {
        let mut stream = client::connect(addr).await?;
        match client::read_line(&mut stream).await {
            Ok(line) if line == greeting => return Ok(stream),
            Ok(line) => last = format!("greeted by {line:?}"),
            Err(e) => last = format!("{e:#}"),
        }
    }
    anyhow::bail!("no connection to {addr} greeted with {greeting:?} in 8 tries (last: {last})")
}

/// A random payload of 1 B to [`MAX_PAYLOAD`].
pub fn random_payload() -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut payload = vec![0u8; rng.gen_range(1..=MAX_PAYLOAD)];
    rng.fill_bytes(&mut payload);
    payload
}

async fn session(
    label: String,
    mut stream: tokio::net::TcpStream,
    stopped: watch::Receiver<bool>,
    counter: Arc<AtomicUsize>,
) -> SessionStats {
    let mut stats = SessionStats {
        label,
        ..SessionStats::default()
    };
    while !*stopped.borrow() {
        let payload = random_payload();
        let started = Instant::now();
        if let Err(e) = client::echo_roundtrip(&mut stream, &payload).await {
            stats.error = Some(format!(
                "round trip {} ({} B) failed after {:.2?}: {e:#}",
                stats.round_trips + 1,
                payload.len(),
                started.elapsed()
            ));
            break;
        }
        stats.round_trips += 1;
        stats.bytes += payload.len();
        counter.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(SESSION_PAUSE).await;
    }
    stats
}

/// Fails naming every session that did not keep round-tripping; otherwise a one-line summary.
pub fn check_sessions(stats: &[SessionStats]) -> anyhow::Result<String> {
    let broken: Vec<String> = stats
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.label)))
        .collect();
    anyhow::ensure!(
        broken.is_empty(),
        "long-lived sessions were interrupted:\n{}",
        broken.join("\n")
    );
    let trips: usize = stats.iter().map(|s| s.round_trips).sum();
    let bytes: usize = stats.iter().map(|s| s.bytes).sum();
    Ok(format!(
        "{} sessions, {trips} round trips, {bytes} B echoed exactly",
        stats.len()
    ))
}

/// Fails listing the failures unless every churn request succeeded; otherwise a summary.
pub fn check_churn(stats: &[ChurnStats], min_requests: usize) -> anyhow::Result<String> {
    let summary = stats
        .iter()
        .map(ChurnStats::summary)
        .collect::<Vec<_>>()
        .join("; ");
    let failures: Vec<&String> = stats.iter().flat_map(|s| &s.failures).collect();
    let failed: usize = stats.iter().map(|s| s.failed).sum();
    anyhow::ensure!(
        failed == 0,
        "{failed} admin requests failed ({summary}); first ones:\n{}",
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let ok: usize = stats.iter().map(|s| s.ok).sum();
    anyhow::ensure!(
        ok >= min_requests,
        "only {ok} admin requests were made (wanted {min_requests}): {summary}"
    );
    Ok(summary)
}
