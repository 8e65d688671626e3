//! A real three-member etcd cluster on loopback (free ports, one temp dir per member), with
//! kill -9 / restart of single members and leader discovery. Members run with
//! `--heartbeat-interval 100 --election-timeout 1000`, so an election takes about a second.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::programs::etcd_bin;
use crate::wait::{eventually, within_for};

/// The bound on one cluster step (a member client, the revision); a leader gets twice as long.
pub const CLUSTER_STEP: Duration = Duration::from_secs(15);

/// One member's ports and process.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A three-member etcd cluster, killed on drop.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until the cluster has a leader.
    pub async fn start(n: usize) -> EtcdCluster {
        let members = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster {
            dir: tempfile::tempdir().expect("etcd cluster temp dir"),
            members,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_leader().await;
        cluster
    }

    /// `http://127.0.0.1:<client port>` of member `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[i].client_port)
    }

    /// Every member's endpoint.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize) {
        let initial = self.initial_cluster();
        let client = self.endpoint(i);
        let member = &mut self.members[i];
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", member.name)))
            .expect("etcd member log");
        let child = Command::new(etcd_bin().unwrap_or_else(|e| panic!("{e:#}")))
            .arg(format!("--name={}", member.name))
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join(&member.name).display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={initial}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=gateway-tests")
            .arg("--heartbeat-interval=100")
            .arg("--election-timeout=1000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd member");
        member.child = Some(child);
    }

    /// Kills member `i` at once (kill -9).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data and ports.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    /// The index of the current leader, asked of the running members.
    pub async fn leader(&self) -> Option<usize> {
        for (i, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                continue;
            }
            let Ok(mut client) = tokio::time::timeout(
                Duration::from_secs(1),
                etcd_client::Client::connect([self.endpoint(i)], None),
            )
            .await
            .unwrap_or_else(|_| Err(etcd_client::Error::InvalidArgs("timed out".into()))) else {
                continue;
            };
            let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(1), client.status()).await
            else {
                continue;
            };
            if status.leader() == 0 {
                continue;
            }
            let Ok(Ok(list)) =
                tokio::time::timeout(Duration::from_secs(1), client.member_list()).await
            else {
                continue;
            };
            let leader_name = list
                .members()
                .iter()
                .find(|m| m.id() == status.leader())
                .map(|m| m.name().to_owned())?;
            return self.members.iter().position(|m| m.name == leader_name);
        }
        None
    }

    /// Waits until the running members agree on a leader; returns it.
    pub async fn wait_leader(&self) -> usize {
        eventually("the etcd cluster has a leader", CLUSTER_STEP * 2, || {
            self.leader()
        })
        .await
    }

    /// A plain client of member `i` alone.
    pub async fn client(&self, i: usize) -> etcd_client::Client {
        within_for(
            CLUSTER_STEP,
            "etcd member client",
            etcd_client::Client::connect([self.endpoint(i)], None),
        )
        .await
        .expect("etcd member client")
    }

    /// The cluster's current revision, asked of any member with a leader.
    pub async fn revision(&self) -> i64 {
        eventually(
            "an etcd member tells the revision",
            CLUSTER_STEP,
            || async {
                for (i, member) in self.members.iter().enumerate() {
                    if member.child.is_none() {
                        continue;
                    }
                    let mut client = self.client(i).await;
                    if let Ok(Ok(resp)) =
                        tokio::time::timeout(Duration::from_secs(1), client.get("/", None)).await
                    {
                        return resp.header().map(|h| h.revision());
                    }
                }
                None
            },
        )
        .await
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let path = self.dir.path().join(format!("{}.log", m.name));
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {} ---\n{}",
                    m.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
