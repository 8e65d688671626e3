//! A fleet on one machine: etcd cluster, gateways and upstream nodes, each on a host of its own
//! (network namespaces, [`crate::netns`]), with the test process as the client host.
//!
//! Two networks, each a bridge whose `.1` is the test process:
//!
//! | network | hosts |
//! |---|---|
//! | `front` (clients, upstreams) | gateways `gw1`, `gw2` at `.11`, `.12`; echo nodes at `.31`.. |
//! | `back` (configuration) | etcd `m1`..`m3` at `.11`..`.13`; gateways at `.21`, `.22` |
//!
//! so a gateway can be cut off from etcd ([`Fleet::set_gateway_etcd_link`]) while clients
//! still reach it, and an etcd member cut off from everything ([`EtcdCluster::set_link`]).
//!
//! Every gateway is the real `apisix-gateway` run inside its host, listening on its front
//! address, with `config_provider: etcd`, all three members in `deployment.etcd.host`,
//! `timeout: 5`, `health_check_timeout: 10` and the front subnet in `allow_admin`. All share
//! the same stream ports, so one route serves on every gateway:
//! [`STABLE`] (route `stable` → node `a`, for long-lived sessions), [`PROBE`] (route `probe`,
//! switched between nodes `a` and `b` to measure convergence, see [`converge`]) and, when
//! asked for, [`FAULT`] (for the fault-relay tests).
//!
//! Layout: [`echo`] the upstream nodes, [`workload`] Admin churn and live sessions,
//! [`converge`] revision / convergence / outage checks, [`upstream_faults`] the fault-relay
//! route and client attempts, [`verdict`] a scenario's checks. Dropping the fleet stops every process,
//! then deletes the hosts, then the bridges.

pub mod converge;
pub mod echo;
pub mod upstream_faults;
pub mod verdict;
pub mod workload;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::cluster::EtcdCluster;
use crate::gateway::{AdminHandle, Gateway, GatewayConfig};
use crate::netns::{self, Host, Network};
use echo::EchoHost;

/// Index of the listener carrying route `stable`.
pub const STABLE: usize = 0;
/// Index of the listener carrying route `probe`.
pub const PROBE: usize = 1;
/// Index of the listener for the fault-relay tests (with [`FleetSpec::fault_listener`]).
pub const FAULT: usize = 2;
/// `deployment.etcd.timeout` of every gateway.
pub const ETCD_TIMEOUT: Duration = Duration::from_secs(5);
/// `deployment.etcd.health_check_timeout` of every gateway (seconds).
pub const HEALTH_CHECK_TIMEOUT_SECS: u64 = 10;
/// Members of the etcd cluster.
pub const ETCD_MEMBERS: usize = 3;
/// How long the fleet may take to serve its base routes.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What to build.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Gateways (`gw1`, `gw2`, ...).
    pub gateways: usize,
    /// Echo nodes by name; the first two (`a`, `b`) carry `stable` and `probe`.
    pub echoes: Vec<&'static str>,
    /// Give every gateway the [`FAULT`] listener too.
    pub fault_listener: bool,
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            gateways: 2,
            echoes: vec!["a", "b"],
            fault_listener: false,
        }
    }
}

/// A running fleet. Fields drop in order: processes first, then hosts, then bridges.
pub struct Fleet {
    /// The gateways, `gw1` first.
    pub gateways: Vec<Gateway>,
    gateway_hosts: Vec<Host>,
    /// The echo nodes, in [`FleetSpec::echoes`] order.
    pub echoes: Vec<EchoHost>,
    /// The etcd cluster (on `back`).
    pub etcd: EtcdCluster,
    /// Clients, gateways and upstream nodes.
    pub front: Network,
    /// etcd and gateways.
    pub back: Network,
    /// Which echo node route `probe` points at now.
    probe_target: usize,
    label: String,
    _logs: tempfile::TempDir,
}

impl Fleet {
    /// Starts a fleet, or returns `None` after saying why when namespaces cannot be made here
    /// and `SKIP_NETNS=1` is set. Without `SKIP_NETNS=1` that case panics with the reason, as
    /// does any failure to start.
    pub async fn start_or_skip(label: &str, spec: FleetSpec) -> Option<Fleet> {
        if let Err(why) = netns::available() {
            if netns::skip_requested() {
                eprintln!("fleet[{label}]: SKIPPED (SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "fleet[{label}]: network namespaces cannot be made here: {why}\n\
                 (run as root with iproute2, or set SKIP_NETNS=1 to skip these tests)"
            );
        }
        match Fleet::start(label, spec).await {
            Ok(fleet) => Some(fleet),
            Err(e) => panic!("fleet[{label}]: start-up failed: {e:#}"),
        }
    }

    /// Builds the networks, the etcd cluster, the echo nodes and the gateways, writes routes
    /// `stable` and `probe`, and waits until every gateway serves both.
    pub async fn start(label: &str, spec: FleetSpec) -> anyhow::Result<Fleet> {
        let started = std::time::Instant::now();
        let logs = tempfile::Builder::new().prefix("e2e-fleet-").tempdir()?;
        let front = Network::create()?;
        let back = Network::create()?;
        let etcd = EtcdCluster::start(&back, ETCD_MEMBERS).await?;
        let mut echoes = Vec::new();
        for (i, name) in spec.echoes.iter().enumerate() {
            let octet = 31 + u8::try_from(i)?;
            echoes.push(EchoHost::start(&front, octet, name, logs.path()).await?);
        }
        anyhow::ensure!(echoes.len() >= 2, "a fleet needs echo nodes a and b");
        let listeners = if spec.fault_listener { 3 } else { 2 };
        let base = GatewayConfig::with_listeners(listeners, 0);
        let mut gateways = Vec::new();
        let mut gateway_hosts = Vec::new();
        for i in 0..spec.gateways {
            let mut host = Host::create(&format!("gw{}", i + 1))?;
            let octet = u8::try_from(i)?;
            let ip = host.attach(&front, 11 + octet)?;
            host.attach(&back, 21 + octet)?;
            let mut config = base.clone();
            config.listen_ip = ip;
            config.netns = Some(host.name().to_string());
            config.allow_admin = vec![front.cidr()];
            config.use_etcd_cluster(&etcd.client_urls());
            config.etcd_timeout = ETCD_TIMEOUT.as_secs();
            config.etcd_health_check_timeout = Some(HEALTH_CHECK_TIMEOUT_SECS);
            gateway_hosts.push(host);
            gateways.push(Gateway::start(config).await?);
        }
        let fleet = Fleet {
            gateways,
            gateway_hosts,
            echoes,
            etcd,
            front,
            back,
            probe_target: 1,
            label: label.to_string(),
            _logs: logs,
        };
        fleet.write_base_routes().await?;
        fleet.say(&format!(
            "up in {:.1?}: etcd {:?}, gateways {:?}, echo nodes {:?}",
            started.elapsed(),
            fleet.etcd.client_urls(),
            fleet
                .gateways
                .iter()
                .map(|g| g.admin_base())
                .collect::<Vec<_>>(),
            fleet.echoes.iter().map(EchoHost::node).collect::<Vec<_>>()
        ));
        Ok(fleet)
    }

    async fn write_base_routes(&self) -> anyhow::Result<()> {
        let gw = &self.gateways[0];
        let ports = &gw.config.tcp_ports;
        let writes = [
            ("/upstreams/stable", upstream_to(&self.echoes[0])),
            ("/upstreams/probe", upstream_to(&self.echoes[1])),
            (
                "/stream_routes/stable",
                json!({"server_port": ports[STABLE], "upstream_id": "stable"}),
            ),
            (
                "/stream_routes/probe",
                json!({"server_port": ports[PROBE], "upstream_id": "probe"}),
            ),
        ];
        for (path, body) in writes {
            let reply = gw
                .admin_request(reqwest::Method::PUT, path)
                .json(&body)
                .try_send()
                .await?;
            anyhow::ensure!(
                reply.status == 200 || reply.status == 201,
                "PUT {path}: {} {}",
                reply.status,
                reply.text
            );
        }
        for gw in &self.gateways {
            crate::client::wait_for_greeting(
                gw.tcp_addr(STABLE),
                &self.echoes[0].name,
                APPLY_TIMEOUT,
            )
            .await?;
            crate::client::wait_for_greeting(
                gw.tcp_addr(PROBE),
                &self.echoes[1].name,
                APPLY_TIMEOUT,
            )
            .await?;
        }
        Ok(())
    }

    /// Prints `fleet[<label>]: <msg>` on stderr (the figures for the README).
    pub fn say(&self, msg: &str) {
        eprintln!("fleet[{}]: {msg}", self.label);
    }

    /// The echo node called `name`.
    pub fn echo(&self, name: &str) -> &EchoHost {
        self.echoes
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("the fleet has no echo node {name:?}"))
    }

    /// Cuts gateway `i` off the back network (etcd) or plugs it back in; clients still reach it.
    pub fn set_gateway_etcd_link(&self, i: usize, up: bool) -> anyhow::Result<()> {
        self.gateway_hosts[i].set_link(&self.back, up)
    }

    /// `(gwN, admin handle)` for the given gateways: the targets of an Admin churn.
    pub fn admin_targets(&self, which: &[usize]) -> Vec<(String, AdminHandle)> {
        which
            .iter()
            .map(|&i| (format!("gw{}", i + 1), self.gateways[i].admin_handle()))
            .collect()
    }

    /// `per_gateway` session targets on listener `listener` of every gateway.
    pub fn session_targets(
        &self,
        listener: usize,
        per_gateway: usize,
    ) -> Vec<(String, SocketAddr)> {
        let mut targets = Vec::new();
        for (i, gw) in self.gateways.iter().enumerate() {
            for k in 0..per_gateway {
                targets.push((format!("gw{}#{}", i + 1, k + 1), gw.tcp_addr(listener)));
            }
        }
        targets
    }

    /// The pids of the gateways (to show they were never restarted).
    pub fn gateway_pids(&self) -> Vec<Option<u32>> {
        self.gateways.iter().map(Gateway::pid).collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (i, member) in self.etcd.members.iter().enumerate() {
                eprintln!(
                    "--- etcd {} log tail ---\n{}",
                    member.name,
                    self.etcd.log_tail(i, 15)
                );
            }
        }
    }
}

/// `{"type": "roundrobin", "nodes": {<node>: 1}}`.
pub fn upstream_to(echo: &EchoHost) -> serde_json::Value {
    json!({"type": "roundrobin", "nodes": {echo.node(): 1}})
}
