//! Active health checks (`checks.active`, TCP connect probes): one task per upstream runtime
//! that configures them, started when a snapshot brings it, replaced when its configuration
//! changes (a new runtime) and stopped when it leaves the snapshot. Results go to
//! [`UpstreamRuntime::set_healthy`]; per-node probe counters are kept for the Control API.
//!
//! Settings (APISIX defaults): `timeout` 1 s, `healthy.interval` 1 s, `healthy.successes` 2,
//! `unhealthy.interval` 1 s, `unhealthy.tcp_failures` 2, `unhealthy.timeouts` 3.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::balancer::{NodeAddr, UpstreamRuntime};
use crate::snapshot::{SharedSnapshot, Snapshot};

/// How often the manager looks for a new snapshot.
pub const RECONCILE_EVERY: Duration = Duration::from_millis(200);

/// One node's probe counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounters {
    pub successes: u64,
    pub tcp_failures: u64,
    pub timeouts: u64,
    /// Consecutive results of the current kind.
    pub streak: u64,
}

/// Probe counters by runtime key, then node.
pub type Counters = Arc<Mutex<HashMap<String, HashMap<NodeAddr, ProbeCounters>>>>;

/// The parsed `checks.active` settings.
#[derive(Debug, Clone, PartialEq)]
struct Active {
    timeout: Duration,
    healthy_interval: Duration,
    successes: u64,
    unhealthy_interval: Duration,
    tcp_failures: u64,
    timeouts: u64,
}

fn secs(v: Option<&Value>, default: f64) -> Duration {
    Duration::try_from_secs_f64(v.and_then(Value::as_f64).unwrap_or(default))
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs_f64(default))
}

impl Active {
    fn parse(checks: Option<&Value>) -> Option<Active> {
        let active = checks?.get("active")?;
        if active.get("type").and_then(Value::as_str).unwrap_or("tcp") != "tcp" {
            tracing::warn!("only tcp active health checks are supported in stream mode");
        }
        let count = |p: &str, d: u64| {
            active
                .pointer(p)
                .and_then(Value::as_u64)
                .unwrap_or(d)
                .max(1)
        };
        Some(Active {
            timeout: secs(active.get("timeout"), 1.0),
            healthy_interval: secs(active.pointer("/healthy/interval"), 1.0),
            successes: count("/healthy/successes", 2),
            unhealthy_interval: secs(active.pointer("/unhealthy/interval"), 1.0),
            tcp_failures: count("/unhealthy/tcp_failures", 2),
            timeouts: count("/unhealthy/timeouts", 3),
        })
    }
}

struct Checker {
    runtime: Arc<UpstreamRuntime>,
    stop: CancellationToken,
    _task: JoinHandle<()>,
}

/// Follows the snapshot and runs the checkers.
/// Dropping it stops every checker.
pub struct HealthManager {
    counters: Counters,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for HealthManager {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for HealthManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthManager").finish_non_exhaustive()
    }
}

impl HealthManager {
    /// Starts following `snapshot` until the manager is dropped.
    pub fn start(snapshot: SharedSnapshot) -> HealthManager {
        let counters: Counters = Arc::default();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(snapshot, stop.clone(), counters.clone()));
        HealthManager {
            counters,
            stop,
            task,
        }
    }

    /// Probe counters by runtime key and node.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether the manager task ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

async fn run(snapshot: SharedSnapshot, stop: CancellationToken, counters: Counters) {
    let mut checkers: HashMap<String, Checker> = HashMap::new();
    let mut seen: Option<Arc<Snapshot>> = None;
    loop {
        let current = snapshot.load_full();
        if !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &current)) {
            reconcile(&current, &mut checkers, &counters);
            seen = Some(current);
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
        }
    }
    for (_, checker) in checkers.drain() {
        checker.stop.cancel();
    }
}

fn reconcile(snapshot: &Snapshot, checkers: &mut HashMap<String, Checker>, counters: &Counters) {
    let wanted: HashMap<&String, (&Arc<UpstreamRuntime>, Active)> = snapshot
        .runtimes
        .iter()
        .filter_map(|(k, rt)| Active::parse(rt.config.checks.as_ref()).map(|a| (k, (rt, a))))
        .collect();
    checkers.retain(|key, checker| {
        let keep = wanted
            .get(key)
            .is_some_and(|(rt, _)| Arc::ptr_eq(rt, &checker.runtime));
        if !keep {
            checker.stop.cancel();
            counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(key);
        }
        keep
    });
    for (key, (rt, active)) in wanted {
        if checkers.contains_key(key) {
            continue;
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(check_loop(
            key.clone(),
            rt.clone(),
            active,
            stop.clone(),
            counters.clone(),
        ));
        tracing::info!(upstream = %key, "active health checker started");
        checkers.insert(
            key.clone(),
            Checker {
                runtime: rt.clone(),
                stop,
                _task: task,
            },
        );
    }
}

/// One probe's outcome.
enum Probe {
    Ok,
    Failed,
    TimedOut,
}

async fn probe(rt: &UpstreamRuntime, node: &NodeAddr, timeout: Duration) -> Probe {
    let attempt = async {
        let addrs = rt.resolve(node).await?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Probe::Ok,
        Ok(Err(_)) => Probe::Failed,
        Err(_) => Probe::TimedOut,
    }
}

async fn check_loop(
    key: String,
    rt: Arc<UpstreamRuntime>,
    active: Active,
    stop: CancellationToken,
    counters: Counters,
) {
    let nodes: Vec<NodeAddr> = rt
        .nodes()
        .into_iter()
        .map(|n| NodeAddr {
            host: n.host,
            port: n.port,
        })
        .collect();
    let mut streaks: HashMap<NodeAddr, (u64, u64, u64)> = HashMap::new();
    loop {
        let mut any_unhealthy = false;
        for node in &nodes {
            let result = probe(&rt, node, active.timeout).await;
            let (ok, failed, timed_out) = streaks.entry(node.clone()).or_default();
            match result {
                Probe::Ok => {
                    *ok += 1;
                    (*failed, *timed_out) = (0, 0);
                    if *ok >= active.successes && !rt.is_healthy(node) {
                        rt.set_healthy(node, true);
                    }
                }
                Probe::Failed => {
                    *failed += 1;
                    *ok = 0;
                    if *failed >= active.tcp_failures && rt.is_healthy(node) {
                        rt.set_healthy(node, false);
                    }
                }
                Probe::TimedOut => {
                    *timed_out += 1;
                    *ok = 0;
                    if *timed_out >= active.timeouts && rt.is_healthy(node) {
                        rt.set_healthy(node, false);
                    }
                }
            }
            let mut all = counters.lock().unwrap_or_else(|e| e.into_inner());
            let c = all
                .entry(key.clone())
                .or_default()
                .entry(node.clone())
                .or_default();
            match result {
                Probe::Ok => c.successes += 1,
                Probe::Failed => c.tcp_failures += 1,
                Probe::TimedOut => c.timeouts += 1,
            }
            c.streak = (*ok).max(*failed).max(*timed_out);
            any_unhealthy |= !rt.is_healthy(node);
        }
        let wait = if any_unhealthy {
            active.unhealthy_interval.min(active.healthy_interval)
        } else {
            active.healthy_interval
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(upstream = %key, "active health checker stopped");
}
