//! Upstream faults behind a [`FaultRelay`]: route `fault` on the [`FAULT`] listener of every
//! gateway goes to upstream `fault`, two nodes — the relay (in front of echo node `r`) and the
//! healthy echo node `h` — with `retries: 1`, a 1 s connect timeout and health checks where
//! only passive ones can act during a test (active probes run once at start, then every
//! 300 s; passive: 2 TCP failures or timeouts mark a node unhealthy).
//!
//! [`attempt`] is one client session through a gateway (greeting, then a random payload
//! echoed exactly) classified as served, closed early (no byte arrived) or broken (wrong or
//! lost bytes mid-session); [`Fleet::node_status`] reads a node's state from the Control API
//! (`GET /v1/healthcheck/upstreams/fault`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::workload::random_payload;
use super::{Fleet, FAULT};
use crate::fault_relay::FaultRelay;
use crate::gateway::http_client;
use crate::{client, wait};

/// `timeout.connect` of upstream `fault` (seconds).
pub const CONNECT_TIMEOUT_SECS: f64 = 1.0;
/// `checks.passive.unhealthy.tcp_failures` (and `timeouts`) of upstream `fault`.
pub const PASSIVE_FAILURES: usize = 2;

/// How one client session through the gateway went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Greeted by `node`, payload echoed exactly, in `elapsed`.
    Served { node: String, elapsed: Duration },
    /// Closed (EOF or reset) before any byte arrived.
    ClosedEarly(String),
    /// Anything else: refused by the gateway, wrong or missing bytes mid-session.
    Broken(String),
}

impl Outcome {
    /// The node that served it, if it was served.
    pub fn node(&self) -> Option<&str> {
        match self {
            Outcome::Served { node, .. } => Some(node),
            _ => None,
        }
    }
}

/// One session through `addr`: connect, read the greeting, echo a random payload.
pub async fn attempt(addr: SocketAddr) -> Outcome {
    let started = Instant::now();
    let mut stream = match client::connect(addr).await {
        Ok(stream) => stream,
        Err(e) => return Outcome::Broken(format!("connect: {e:#}")),
    };
    let node = match client::read_line(&mut stream).await {
        Ok(node) => node,
        Err(e) => return Outcome::ClosedEarly(format!("{e:#}")),
    };
    match client::echo_roundtrip(&mut stream, &random_payload()).await {
        Ok(()) => Outcome::Served {
            node,
            elapsed: started.elapsed(),
        },
        Err(e) => Outcome::Broken(format!("greeted by {node}, then: {e:#}")),
    }
}

/// The body of upstream `fault`: `relay` and `healthy` with retries and health checks.
pub fn fault_upstream(relay: &FaultRelay, healthy: &str) -> Value {
    json!({
        "type": "roundrobin",
        "nodes": {relay.node(): 1, healthy: 1},
        "retries": 1,
        "timeout": {"connect": CONNECT_TIMEOUT_SECS, "send": 10, "read": 10},
        "checks": {
            "active": {"type": "tcp", "timeout": 1,
                       "healthy": {"interval": 300, "successes": 1},
                       "unhealthy": {"interval": 300, "tcp_failures": 254, "timeouts": 254}},
            "passive": {"type": "tcp",
                        "unhealthy": {"tcp_failures": PASSIVE_FAILURES, "timeouts": PASSIVE_FAILURES}}
        }
    })
}

impl Fleet {
    /// Writes upstream `fault` (relay + echo node `h`), waits until every gateway's active
    /// checker has made its first probe of the relay (the relay saw a connection from each
    /// gateway before any route used the upstream: from then on only passive checks act), then
    /// writes route `fault` and waits until every gateway's [`FAULT`] listener reaches both nodes.
    pub async fn install_fault_route(&self, relay: &FaultRelay) -> anyhow::Result<()> {
        let port = self.gateways[0].config.tcp_ports[FAULT];
        let writes = [
            (
                "/upstreams/fault",
                fault_upstream(relay, &self.echo("h").node()),
            ),
            (
                "/stream_routes/fault",
                json!({"server_port": port, "upstream_id": "fault"}),
            ),
        ];
        for (i, (path, body)) in writes.into_iter().enumerate() {
            let reply = self.gateways[0]
                .admin_request(Method::PUT, path)
                .json(&body)
                .try_send()
                .await?;
            anyhow::ensure!(
                reply.status == 200 || reply.status == 201,
                "PUT {path}: {} {}",
                reply.status,
                reply.text
            );
            if i == 0 {
                self.wait_first_probes(relay).await?;
            }
        }
        for gw in &self.gateways {
            for node in ["r", "h"] {
                client::wait_for_greeting(gw.tcp_addr(FAULT), node, Duration::from_secs(30))
                    .await?;
            }
        }
        Ok(())
    }

    async fn wait_first_probes(&self, relay: &FaultRelay) -> anyhow::Result<()> {
        for gw in &self.gateways {
            let ip = gw.config.listen_ip.into();
            wait::until(
                &format!("the first health probe from {ip} at the relay"),
                Duration::from_secs(15),
                || async { (relay.accepted_from(ip) > 0).then_some(()) },
            )
            .await?;
        }
        Ok(())
    }

    /// The health status (`healthy`, `unhealthy`, ...) gateway `gw` reports for node `addr`
    /// of upstream `fault`.
    pub async fn node_status(&self, gw: usize, addr: SocketAddr) -> anyhow::Result<String> {
        let url = format!(
            "{}/v1/healthcheck/upstreams/fault",
            self.gateways[gw].control_base()
        );
        let checker: Value = http_client().get(&url).send().await?.json().await?;
        let nodes = checker["nodes"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("GET {url}: no nodes in {checker}"))?;
        nodes
            .iter()
            .find(|n| {
                n["ip"].as_str() == Some(&addr.ip().to_string())
                    && n["port"].as_u64() == Some(u64::from(addr.port()))
            })
            .and_then(|n| n["status"].as_str().map(str::to_string))
            .ok_or_else(|| anyhow::anyhow!("GET {url}: node {addr} missing in {checker}"))
    }

    /// Waits until gateway `gw` reports node `addr` of upstream `fault` as `want`.
    pub async fn wait_node_status(
        &self,
        gw: usize,
        addr: SocketAddr,
        want: &str,
        limit: Duration,
    ) -> anyhow::Result<()> {
        wait::until(
            &format!("gw{} to report {addr} {want}", gw + 1),
            limit,
            || async { (self.node_status(gw, addr).await.ok()? == want).then_some(()) },
        )
        .await
    }
}
