//! Upstream node selection: `roundrobin` (smooth weighted), `chash`, `least_conn`, `ewma`,
//! priority groups, health, and the retry budget (`retries`, `retry_timeout`).
//!
//! An [`UpstreamRuntime`] is compiled from a `model::types::Upstream` once per snapshot and
//! shared by every connection on it; its counters are atomics or short critical sections.
//! The snapshot compiler reuses a runtime whose upstream configuration did not change, so its
//! state (round-robin position, live sessions, health) survives unrelated config changes.
//!
//! Layout: `node` holds one node's live state, [`health`] its health state machine, `select` the per-group choice for
//! roundrobin / least_conn / ewma, `chash` the consistent-hash ring and key, `resolve` the
//! addresses a node connects to. A node whose host is a name holds its record in the
//! gateway's DNS client ([`crate::dns`]): a name with no usable answer is skipped like a node
//! already tried.
//!
//! Use by the proxy, per connection: `pick` → resolve + connect → `report_connect` → (on
//! failure: `pick` again with the same [`PickState`]) → `session_started` → relay →
//! `session_ended`.

mod chash;
pub mod health;
mod node;
mod resolve;
mod select;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use model::control::NodeInfo;

use crate::conn::ConnInfo;
use crate::dns::Dns;
use chash::HashKey;
use health::{HealthCounter, HealthLimits, HealthStatus, Report};
use node::NodeState;
use select::Group;

pub use chash::POINTS_PER_WEIGHT;

/// `timeout.connect` when unset.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// `max(timeout.send, timeout.read)` when unset (nginx `proxy_timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// One resolved node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// `host:port` as configured (a DNS name is resolved at connect time).
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NodeAddr {
    /// `host:port`, with an IPv6 host in brackets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A node as shown by the Control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Address, weight, priority, health and live sessions (`/v1/stream_routes`).
    pub info: NodeInfo,
    /// The health state (`healthy`, `mostly_healthy`, `mostly_unhealthy`, `unhealthy`).
    pub status: HealthStatus,
    /// The consecutive health counters.
    pub counter: HealthCounter,
}

/// The balancing algorithm (`type`).
#[derive(Debug, Clone, PartialEq)]
enum Policy {
    RoundRobin,
    Chash(HashKey),
    LeastConn,
    Ewma,
    /// An unknown `type`: the Admin API accepts it; every pick fails.
    Unsupported(String),
}

/// Why a connect attempt to a node failed, as passive health checks count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Refused, reset, unreachable, or the leg could not be set up (`tcp_failures`).
    Refused,
    /// No answer within the connect timeout (`timeouts`).
    TimedOut,
}

impl ConnectFailure {
    /// The failure an I/O error stands for.
    pub fn of(error: &std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::TimedOut {
            ConnectFailure::TimedOut
        } else {
            ConnectFailure::Refused
        }
    }
}

/// A compiled upstream.
#[derive(Debug)]
pub struct UpstreamRuntime {
    /// `upstreams/<id>` or `stream_routes/<id>` (inline), for logs and metrics.
    pub key: String,
    /// The configuration this was compiled from (the snapshot compares it to keep state).
    pub config: model::types::Upstream,
    nodes: Vec<NodeState>,
    index: HashMap<NodeAddr, usize>,
    /// By priority, highest first.
    groups: Vec<Group>,
    policy: Policy,
    retries: u32,
    retry_timeout: Option<Duration>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    /// Health thresholds; `None` without `checks` (no checker, nothing counted).
    limits: Option<HealthLimits>,
    rotor: AtomicUsize,
    /// The DNS client the node names are tracked in.
    dns: Dns,
}

impl Default for UpstreamRuntime {
    fn default() -> Self {
        UpstreamRuntime::compile(String::new(), &model::types::Upstream::default())
    }
}

/// A connection's progress through the nodes: what was tried, and the deadline.
#[derive(Debug, Default, Clone)]
pub struct PickState {
    /// Nodes already returned by [`UpstreamRuntime::pick`] (it appends to this), plus any the
    /// caller wants skipped.
    pub tried: Vec<NodeAddr>,
    /// When the first pick happened (`retry_timeout` counts from here); set by the first pick.
    pub started: Option<Instant>,
    /// Picks made so far (the first one plus retries).
    pub attempts: u32,
    /// Variables set for this connection by plugins (e.g. `mqtt_client_id`), read by `chash`.
    pub vars: Vec<(String, String)>,
}

impl PickState {
    /// A fresh state carrying plugin-set `vars`.
    pub fn with_vars(vars: Vec<(String, String)>) -> Self {
        PickState {
            vars,
            ..PickState::default()
        }
    }
}

impl UpstreamRuntime {
    /// Compiles `up`; `key` names it in logs (`upstreams/1`, `stream_routes/7`). Node names
    /// are resolved by a DNS client of its own with the system's servers (see
    /// [`UpstreamRuntime::compile_with`]).
    pub fn compile(key: String, up: &model::types::Upstream) -> UpstreamRuntime {
        UpstreamRuntime::compile_with(key, up, &Dns::default())
    }

    /// Compiles `up`, tracking its node names in `dns` (their lookups start now).
    pub fn compile_with(key: String, up: &model::types::Upstream, dns: &Dns) -> UpstreamRuntime {
        let mut nodes = Vec::new();
        for node in up.nodes.to_list() {
            let Some(port) = node.port else {
                tracing::warn!(upstream = %key, host = %node.host, "skipping node without port");
                continue;
            };
            let addr = NodeAddr {
                host: node.host,
                port,
            };
            let name = Dns::is_name(&addr.host).then(|| dns.track(&addr.host));
            nodes.push(NodeState::new(addr, node.weight, node.priority, name));
        }
        let mut index = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            index.entry(node.addr.clone()).or_insert(i);
        }
        let mut priorities: Vec<i64> = nodes.iter().map(|n| n.priority).collect();
        priorities.sort_unstable_by(|a, b| b.cmp(a));
        priorities.dedup();
        let policy = match up.balancer.as_deref().unwrap_or("roundrobin") {
            "roundrobin" => Policy::RoundRobin,
            "chash" => Policy::Chash(HashKey::from_config(
                up.hash_on.as_deref(),
                up.key.as_deref(),
            )),
            "least_conn" => Policy::LeastConn,
            "ewma" => Policy::Ewma,
            other => Policy::Unsupported(other.to_owned()),
        };
        let groups = priorities
            .into_iter()
            .map(|priority| {
                let members: Vec<usize> = (0..nodes.len())
                    .filter(|&i| nodes[i].priority == priority)
                    .collect();
                let mut group = Group {
                    current: Mutex::new(vec![0; members.len()]),
                    members,
                    ring: Vec::new(),
                };
                if matches!(policy, Policy::Chash(_)) {
                    group.ring = chash::build_ring(&group, &nodes);
                }
                group
            })
            .collect();
        let node_count = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
        let timeout = up.timeout;
        UpstreamRuntime {
            key,
            config: up.clone(),
            retries: up.retries.unwrap_or(node_count.saturating_sub(1)),
            retry_timeout: up.retry_timeout.and_then(seconds),
            connect_timeout: timeout
                .and_then(|t| seconds(t.connect))
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            idle_timeout: timeout
                .and_then(|t| seconds(t.send.max(t.read)))
                .unwrap_or(DEFAULT_IDLE_TIMEOUT),
            limits: HealthLimits::from_checks(up.checks.as_ref()),
            nodes,
            index,
            groups,
            policy,
            rotor: AtomicUsize::new(0),
            dns: dns.clone(),
        }
    }

    /// Ignores the upstream's `checks` (`apisix.disable_upstream_healthcheck`): nothing is
    /// counted and every node stays healthy.
    pub fn without_health_checks(mut self) -> Self {
        self.limits = None;
        self
    }

    /// Whether health checks are counted for this upstream (it has `checks`, not disabled).
    pub fn health_checked(&self) -> bool {
        self.limits.is_some()
    }

    /// The next node to try for `conn`, skipping those in `state.tried`; `None` when the
    /// retry budget is spent or there is no node. The returned node is appended to
    /// `state.tried`.
    ///
    /// Groups are tried by priority (highest first); a lower group is used only when every
    /// node of the higher ones is tried or unhealthy. Weight-0 nodes are never picked, nor
    /// nodes whose name has no usable DNS answer. Unhealthy nodes are skipped unless every
    /// node is unhealthy.
    pub fn pick(&self, conn: &ConnInfo, state: &mut PickState) -> Option<NodeAddr> {
        if self.nodes.is_empty() || matches!(self.policy, Policy::Unsupported(_)) {
            return None;
        }
        if state.attempts > self.retries {
            return None;
        }
        let now = Instant::now();
        let started = *state.started.get_or_insert(now);
        if let (true, Some(limit)) = (state.attempts > 0, self.retry_timeout) {
            if now.saturating_duration_since(started) >= limit {
                return None;
            }
        }
        let mut tried = vec![false; self.nodes.len()];
        for addr in &state.tried {
            if let Some(&i) = self.index.get(addr) {
                tried[i] = true;
            }
        }
        let resolvable: Vec<bool> = self.nodes.iter().map(|n| n.is_resolvable(now)).collect();
        let all_unhealthy = !self
            .nodes
            .iter()
            .zip(&resolvable)
            .any(|(n, &ok)| ok && n.weight > 0 && n.is_healthy());
        let eligible = |i: usize| {
            let node = &self.nodes[i];
            !tried[i] && resolvable[i] && node.weight > 0 && (all_unhealthy || node.is_healthy())
        };
        let mut hash = None;
        for group in &self.groups {
            if !group.members.iter().any(|&i| eligible(i)) {
                continue;
            }
            let chosen = match &self.policy {
                Policy::RoundRobin => select::smooth_weighted(group, &self.nodes, &eligible),
                Policy::LeastConn => select::least_conn(group, &self.nodes, &eligible, &self.rotor),
                Policy::Ewma => select::ewma(group, &self.nodes, &eligible),
                Policy::Chash(key) => {
                    let hash = *hash.get_or_insert_with(|| chash::hash_key(key, conn, &state.vars));
                    chash::pick(group, hash, &eligible)
                }
                Policy::Unsupported(_) => None,
            };
            if let Some(i) = chosen {
                let addr = self.nodes[i].addr.clone();
                state.attempts += 1;
                state.tried.push(addr.clone());
                return Some(addr);
            }
        }
        None
    }

    /// Why every pick fails regardless of nodes, e.g. `unknown balancer type: foo`.
    pub fn unusable_reason(&self) -> Option<String> {
        match &self.policy {
            Policy::Unsupported(name) => Some(format!("unknown balancer type: {name}")),
            _ if self.nodes.is_empty() => Some("no valid upstream node".to_owned()),
            _ => None,
        }
    }

    /// Reports the outcome of a connect attempt (passive health, ewma latency). A failure
    /// raises the node's `ewma` latency to the connect timeout and, when the upstream has
    /// `checks`, counts a passive TCP failure (`checks.passive.unhealthy.tcp_failures`,
    /// default 2) or, for a timeout, a passive timeout (`unhealthy.timeouts`, default 7), as
    /// APISIX reports a failed try to its checker. A success reports nothing:
    /// in stream APISIX never reports passive successes, so only active probes bring a node
    /// back.
    pub fn report_connect(&self, node: &NodeAddr, result: Result<Duration, ConnectFailure>) {
        let Some(state) = self.node(node) else {
            return;
        };
        let now = Instant::now();
        match result {
            Ok(latency) => state.record_latency(latency, now),
            Err(failure) => {
                state.penalize(self.connect_timeout, now);
                if let Some(limits) = &self.limits {
                    let report = match failure {
                        ConnectFailure::Refused => Report::TcpFailure,
                        ConnectFailure::TimedOut => Report::Timeout,
                    };
                    if let Some(status) = state.report(report, limits.passive.of(report)) {
                        tracing::warn!(upstream = %self.key, node = %node, status = status.as_str(), "node health changed by passive check");
                    }
                }
            }
        }
    }

    /// Reports an active probe result against `checks.active` thresholds; `false` for an
    /// unknown node or an upstream without `checks`.
    pub fn report_probe(&self, node: &NodeAddr, report: Report) -> bool {
        let (Some(state), Some(limits)) = (self.node(node), &self.limits) else {
            return false;
        };
        if let Some(status) = state.report(report, limits.active.of(report)) {
            tracing::info!(upstream = %self.key, node = %node, status = status.as_str(), "node health changed by active check");
        }
        true
    }

    /// The log phase of a session that reached `addr` and ended with nginx `status`: with
    /// `checks.passive`, any status but 200 is a passive TCP failure of that node (APISIX's
    /// stream `healthcheck_passive`). Only nodes given as IP literals are matched; `false`
    /// when nothing was reported.
    pub fn report_session_end(&self, addr: SocketAddr, status: u16) -> bool {
        let passive = self
            .config
            .checks
            .as_ref()
            .is_some_and(|c| c.get("passive").is_some());
        let (Some(limits), true, false) = (&self.limits, passive, status == 200) else {
            return false;
        };
        let Some(state) = self.nodes.iter().find(|n| {
            n.addr.port == addr.port()
                && n.addr
                    .host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .ok()
                    == Some(addr.ip())
        }) else {
            return false;
        };
        let report = Report::TcpFailure;
        if let Some(changed) = state.report(report, limits.passive.of(report)) {
            tracing::warn!(upstream = %self.key, node = %addr, status, health = changed.as_str(), "node health changed by passive check");
        }
        true
    }

    /// A node's health state and counters.
    pub fn health(&self, node: &NodeAddr) -> Option<health::NodeHealth> {
        self.node(node).map(node::NodeState::health)
    }

    /// A session on `node` started / ended (least_conn counts, `active_sessions`). Calls must
    /// pair up: one `session_ended` for every `session_started`.
    pub fn session_started(&self, node: &NodeAddr) {
        if let Some(state) = self.node(node) {
            state.session_started();
        }
    }

    /// See [`UpstreamRuntime::session_started`].
    pub fn session_ended(&self, node: &NodeAddr) {
        if let Some(state) = self.node(node) {
            state.session_ended();
        }
    }

    /// Sets a node's health (active checker, passive recovery); `false` for an unknown node.
    pub fn set_healthy(&self, node: &NodeAddr, healthy: bool) -> bool {
        match self.node(node) {
            Some(state) => {
                if state.set_healthy(healthy) != healthy {
                    tracing::info!(upstream = %self.key, node = %node, healthy, "node health changed");
                }
                true
            }
            None => false,
        }
    }

    /// Whether `node` is healthy (`false` for an unknown node).
    pub fn is_healthy(&self, node: &NodeAddr) -> bool {
        self.node(node).is_some_and(NodeState::is_healthy)
    }

    /// Live sessions on `node`.
    pub fn active_sessions(&self, node: &NodeAddr) -> u64 {
        self.node(node).map_or(0, NodeState::active)
    }

    /// The nodes in configuration order, with their live state.
    pub fn nodes(&self) -> Vec<NodeView> {
        self.nodes
            .iter()
            .map(|n| {
                let health = n.health();
                NodeView {
                    info: NodeInfo {
                        host: n.addr.host.clone(),
                        port: n.addr.port,
                        weight: n.weight,
                        priority: n.priority,
                        healthy: n.is_healthy(),
                        active_sessions: n.active(),
                    },
                    status: health.status,
                    counter: health.counter,
                }
            })
            .collect()
    }

    /// The retry budget: picks allowed after the first one.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `retry_timeout`, `None` when unset or 0.
    pub fn retry_timeout(&self) -> Option<Duration> {
        self.retry_timeout
    }

    /// `timeout.connect`, default 60 s.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `max(timeout.send, timeout.read)`, default 600 s.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The DNS client the node names are tracked in.
    pub fn dns(&self) -> &Dns {
        &self.dns
    }

    fn node(&self, node: &NodeAddr) -> Option<&NodeState> {
        self.index.get(node).map(|&i| &self.nodes[i])
    }
}

/// Positive, finite seconds as a duration.
fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
}
