//! A real N-member etcd cluster, one member per test host ([`crate::netns::Host`]), for the
//! fleet tests: `m1`..`mN` at `198.18.N.11`.. on one network, client port 2379, peer port
//! 2380, data dirs in one temp dir (kept across [`EtcdCluster::kill9`] /
//! [`EtcdCluster::start_member`], so a restart is a real restart).
//!
//! Members run with `--heartbeat-interval 100 --election-timeout 1000`, so an election after a
//! leader dies takes about a second. State is read through etcd's v3 JSON gateway:
//! `POST /v3/maintenance/status` ([`EtcdCluster::status`]: the answering member's id, the leader
//! it knows, its revision) and `POST /v3/kv/range` ([`EtcdCluster::revision`]: the cluster's
//! revision, a linearizable read, so it needs a quorum). Needs the `etcd-server` package.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::gateway::http_client;
use crate::netns::{Host, Network};
use crate::{tools, wait};

/// How long a member (or the whole cluster) may take to become healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one status or revision request to a member may take (a cut-off member must not
/// hold a poll up).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Client port of every member.
pub const CLIENT_PORT: u16 = 2379;
/// Peer port of every member.
pub const PEER_PORT: u16 = 2380;
/// The first member's last octet; member `i` is at `FIRST_OCTET + i`.
pub const FIRST_OCTET: u8 = 11;

/// One member: its host and process.
#[derive(Debug)]
pub struct Member {
    /// `m1`, `m2`, ...
    pub name: String,
    /// Its address on the cluster's network.
    pub ip: Ipv4Addr,
    child: Option<Child>,
    /// Its link is down ([`EtcdCluster::set_link`]).
    cut: bool,
    host: Host,
}

impl Member {
    /// `http://<ip>:2379`.
    pub fn client_url(&self) -> String {
        format!("http://{}:{CLIENT_PORT}", self.ip)
    }

    /// Whether its process runs (it may still be cut off).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether it runs and is not cut off: the members the test can ask.
    pub fn live(&self) -> bool {
        self.running() && !self.cut
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What one member says about itself (`/v3/maintenance/status`).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberStatus {
    /// The answering member's id (`header.member_id`).
    pub member_id: String,
    /// The leader it knows (`leader`; "0" when it knows none).
    pub leader: String,
    /// Its store revision (`header.revision`).
    pub revision: i64,
}

impl MemberStatus {
    /// Whether the answering member is the leader.
    pub fn is_leader(&self) -> bool {
        self.member_id == self.leader
    }
}

/// A running (or partly stopped) etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    /// The members, in `deployment.etcd.host` order.
    pub members: Vec<Member>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    initial_cluster: String,
    token: String,
}

impl EtcdCluster {
    /// Makes `size` hosts on `net`, starts one member on each and waits until all are healthy.
    pub async fn start(net: &Network, size: usize) -> anyhow::Result<EtcdCluster> {
        let bin = tools::require(&["etcd"], "etcd-server")?;
        let dir = tempfile::Builder::new()
            .prefix("e2e-etcd-cluster-")
            .tempdir()?;
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            let name = format!("m{}", i + 1);
            let mut host = Host::create(&name)?;
            let octet = FIRST_OCTET + u8::try_from(i).context("cluster size fits in a u8")?;
            let ip = host.attach(net, octet)?;
            members.push(Member {
                name,
                ip,
                child: None,
                cut: false,
                host,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}:{PEER_PORT}", m.name, m.ip))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            members,
            bin,
            dir,
            initial_cluster,
            token: format!("e2e-{}", crate::netns::names::next_name()),
        };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        cluster.wait_healthy(START_TIMEOUT).await?;
        Ok(cluster)
    }

    /// Every member's client URL, in order: the value for `deployment.etcd.host`.
    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].name))
    }

    /// The last lines of member `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        tools::file_tail(&self.log_path(i), lines)
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = self.log_path(i);
        let member = &self.members[i];
        anyhow::ensure!(member.child.is_none(), "{} is already running", member.name);
        let client = member.client_url();
        let peer = format!("http://{}:{PEER_PORT}", member.ip);
        let data = self.dir.path().join(&member.name);
        let child = member
            .host
            .command(&self.bin)?
            .arg(format!("--name={}", member.name))
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg("--initial-cluster-state=new")
            .arg(format!("--initial-cluster-token={}", self.token))
            .args(["--heartbeat-interval=100", "--election-timeout=1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(tools::append_file(&log)?))
            .stderr(Stdio::from(tools::append_file(&log)?))
            .spawn()
            .with_context(|| format!("spawning etcd {}", member.name))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Kills member `i` at once (SIGKILL); its data dir stays.
    pub fn kill9(&mut self, i: usize) {
        self.members[i].kill9();
    }

    /// Starts member `i` again on its data dir and returns at once (it may need the others
    /// for a quorum before it is healthy: see [`EtcdCluster::wait_healthy`]).
    pub fn start_member(&mut self, i: usize) -> anyhow::Result<()> {
        self.spawn(i)
    }

    /// Cuts member `i` off its network (`up: false`: its veth goes down on the bridge side) or
    /// plugs it back in. A cut member is left out of every query until it is plugged back.
    pub fn set_link(&mut self, i: usize, net: &Network, up: bool) -> anyhow::Result<()> {
        self.members[i].host.set_link(net, up)?;
        self.members[i].cut = !up;
        Ok(())
    }

    /// Waits until every live member answers `/health` with `"health":"true"` (that needs
    /// a leader); fails naming the member and its log when one exits or the time runs out.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.members.len() {
            if !self.members[i].live() {
                continue;
            }
            let url = format!("{}/health", self.members[i].client_url());
            loop {
                if let Some(Ok(Some(status))) = self.members[i].child.as_mut().map(Child::try_wait)
                {
                    self.members[i].child = None;
                    anyhow::bail!(
                        "etcd {} exited with {status}:\n{}",
                        self.members[i].name,
                        self.log_tail(i, 30)
                    );
                }
                let answer = http_client().get(&url).timeout(QUERY_TIMEOUT).send().await;
                if let Ok(resp) = answer {
                    if resp.text().await.unwrap_or_default().contains("true") {
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    anyhow::bail!(
                        "etcd {} not healthy within {timeout:?}:\n{}",
                        self.members[i].name,
                        self.log_tail(i, 30)
                    );
                }
                tokio::time::sleep(wait::POLL_INTERVAL).await;
            }
        }
        Ok(())
    }

    /// Member `i`'s own view (`/v3/maintenance/status`), within [`QUERY_TIMEOUT`].
    pub async fn status(&self, i: usize) -> anyhow::Result<MemberStatus> {
        let url = format!("{}/v3/maintenance/status", self.members[i].client_url());
        let v = post_json(&url, &json!({})).await?;
        Ok(MemberStatus {
            member_id: id_field(&v["header"]["member_id"]),
            leader: id_field(&v["leader"]),
            revision: int_field(&v["header"]["revision"]),
        })
    }

    /// Waits until every live member answers its status, all name the same leader and that
    /// leader is one of them; returns its index. After a leader dies the others still name it
    /// until they elect a new one, so this waits for the election.
    pub async fn wait_leader(&self, timeout: Duration) -> anyhow::Result<usize> {
        wait::until(
            "an etcd leader known to every running member",
            timeout,
            || self.leader_now(),
        )
        .await
    }

    async fn leader_now(&self) -> Option<usize> {
        let mut statuses = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            if member.live() {
                statuses.push((i, self.status(i).await.ok()?));
            }
        }
        let leader = &statuses.first()?.1.leader;
        if statuses.iter().any(|(_, s)| &s.leader != leader) {
            return None;
        }
        statuses
            .iter()
            .find(|(_, s)| s.is_leader())
            .map(|(i, _)| *i)
    }

    /// The cluster's revision (`header.revision` of a linearizable `/v3/kv/range`), asked of
    /// each live member in turn until one answers.
    pub async fn revision(&self) -> anyhow::Result<i64> {
        let body = json!({"key": b64("/apisix"), "limit": 1});
        let mut last = anyhow::anyhow!("no etcd member is running");
        for member in self.members.iter().filter(|m| m.live()) {
            let url = format!("{}/v3/kv/range", member.client_url());
            match post_json(&url, &body).await {
                Ok(v) if v["header"]["revision"].is_string() => {
                    return Ok(int_field(&v["header"]["revision"]))
                }
                Ok(v) => last = anyhow::anyhow!("{}: {v}", member.name),
                Err(e) => last = e.context(member.name.clone()),
            }
        }
        Err(last)
    }

    /// Waits until every live member reports the same store revision; returns it.
    pub async fn wait_members_in_sync(&self, timeout: Duration) -> anyhow::Result<i64> {
        wait::until("every etcd member at one revision", timeout, || async {
            let mut revisions = Vec::new();
            for (i, member) in self.members.iter().enumerate() {
                if member.live() {
                    revisions.push(self.status(i).await.ok()?.revision);
                }
            }
            let first = *revisions.first()?;
            revisions.iter().all(|r| *r == first).then_some(first)
        })
        .await
    }
}

async fn post_json(url: &str, body: &Value) -> anyhow::Result<Value> {
    let resp = http_client()
        .post(url)
        .timeout(QUERY_TIMEOUT)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    resp.json()
        .await
        .with_context(|| format!("POST {url}: reading JSON"))
}

/// etcd's JSON gateway writes 64-bit ids as strings.
fn id_field(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// etcd's JSON gateway writes 64-bit integers as strings; 0 when absent.
fn int_field(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
