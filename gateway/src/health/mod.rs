//! Active health checks (`checks.active`: `tcp` connect, `http`/`https` GET probes): one task
//! per upstream runtime that configures them, started when a snapshot brings it (not on first
//! traffic), replaced when its configuration changes (a new runtime) and stopped when it
//! leaves the snapshot.
//!
//! Like lua-resty-healthcheck, a checker runs two schedules: every `healthy.interval` it
//! probes the nodes that take traffic (`healthy`, `mostly_healthy`), every
//! `unhealthy.interval` the others, at most `concurrency` probes at once. Each result is
//! reported to the node's state machine ([`UpstreamRuntime::report_probe`], thresholds from
//! `checks.active`), which passive reports from traffic share: a node marked down by passive
//! checks comes back after `healthy.successes` successful probes. Cumulative per-node probe
//! totals are kept in [`HealthManager::counters`].
//!
//! Layout: [`settings`] parses `checks.active`, [`probe`] runs one probe. Passive reports come
//! from the session sink [`passive::PassiveHealth`] at the end of each session, on the upstream
//! that session actually used (traffic-split's choice included).

pub mod passive;
pub mod probe;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::balancer::health::Report;
use crate::balancer::{NodeAddr, UpstreamRuntime};
use crate::snapshot::{SharedSnapshot, Snapshot};
use settings::Active;

/// How often the manager looks for a new snapshot.
pub const RECONCILE_EVERY: Duration = Duration::from_millis(200);

/// One node's probe counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounters {
    pub successes: u64,
    pub http_failures: u64,
    pub tcp_failures: u64,
    pub timeouts: u64,
    /// Probes whose HTTP status was in neither list.
    pub ignored: u64,
}

/// Probe counters by runtime key, then node.
pub type Counters = Arc<Mutex<HashMap<String, HashMap<NodeAddr, ProbeCounters>>>>;

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

/// Probes `nodes` (at most `concurrency` at once) and reports each result.
async fn probe_nodes(
    key: &str,
    rt: &UpstreamRuntime,
    active: &Active,
    nodes: Vec<NodeAddr>,
    counters: &Counters,
) {
    let results: Vec<(NodeAddr, Option<Report>)> = futures::stream::iter(nodes)
        .map(|node| async move {
            let result = probe_node(rt, active, &node).await;
            (node, result)
        })
        .buffer_unordered(active.concurrency)
        .collect()
        .await;
    let mut all = counters.lock().unwrap_or_else(|e| e.into_inner());
    let totals = all.entry(key.to_owned()).or_default();
    for (node, result) in results {
        let c = totals.entry(node.clone()).or_default();
        match result {
            Some(Report::Success) => c.successes += 1,
            Some(Report::HttpFailure) => c.http_failures += 1,
            Some(Report::TcpFailure) => c.tcp_failures += 1,
            Some(Report::Timeout) => c.timeouts += 1,
            None => c.ignored += 1,
        }
        if let Some(report) = result {
            rt.report_probe(&node, report);
        }
    }
}

/// Resolves `node` and probes its first address on the probe port.
async fn probe_node(rt: &UpstreamRuntime, active: &Active, node: &NodeAddr) -> Option<Report> {
    let resolved = tokio::time::timeout(active.timeout, rt.resolve(node)).await;
    let addr = match resolved {
        Err(_) => return Some(Report::Timeout),
        Ok(Err(_)) => return Some(Report::TcpFailure),
        Ok(Ok(addrs)) => addrs.into_iter().next()?,
    };
    let addr = std::net::SocketAddr::new(addr.ip(), active.port.unwrap_or(node.port));
    let host = active.host.as_deref().unwrap_or(&node.host);
    probe::probe(active, addr, host).await
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
            host: n.info.host,
            port: n.info.port,
        })
        .collect();
    let mut next_healthy = Instant::now();
    let mut next_unhealthy = Instant::now();
    loop {
        for healthy_round in [true, false] {
            let due = if healthy_round {
                next_healthy
            } else {
                next_unhealthy
            };
            let started = Instant::now();
            if started < due {
                continue;
            }
            let wanted: Vec<NodeAddr> = nodes
                .iter()
                .filter(|n| rt.is_healthy(n) == healthy_round)
                .cloned()
                .collect();
            if !wanted.is_empty() {
                probe_nodes(&key, &rt, &active, wanted, &counters).await;
            }
            // The next round starts one interval after this one started.
            if healthy_round {
                next_healthy = started + active.healthy_interval;
            } else {
                next_unhealthy = started + active.unhealthy_interval;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next_healthy.min(next_unhealthy)) => {}
        }
    }
    tracing::info!(upstream = %key, "active health checker stopped");
}
