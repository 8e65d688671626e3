//! What the fleet tests measure about configuration: convergence, recovery and outages.
//!
//! - [`Fleet::converge`]: one write ([`Fleet::switch_probe`]: route `probe` switched to the
//!   other echo node) through one gateway, then the time until **every** gateway reports etcd's revision as its
//!   `config_revision` (Control API `GET /v1/status`) and a new connection through its
//!   `probe` listener reaches the new node.
//! - [`Fleet::wait_converged`]: the same without a write (a healed gateway catching up).
//! - [`Fleet::wait_writable`]: time until an Admin write through a gateway succeeds again
//!   (recovery after quorum returns).
//! - [`Fleet::expect_store_unavailable`]: while etcd has no quorum (or a gateway is cut off),
//!   Admin writes answer 503 with an `error_msg`, and every request answers within a bound.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::{upstream_to, Fleet, PROBE};
use crate::gateway::http_client;
use crate::{client, wait};

/// How long one Control API or probe connection may take inside a convergence poll.
const POLL_STEP: Duration = Duration::from_secs(2);

/// What a gateway answered while its store was unavailable.
#[derive(Debug, Clone, Default)]
pub struct OutageStats {
    /// Writes answered 503 with an `error_msg`.
    pub writes_503: usize,
    /// Reads answered (any status).
    pub reads: usize,
    /// The slowest answer.
    pub max_latency: Duration,
}

impl Fleet {
    /// The name of the echo node route `probe` points at.
    pub fn probe_name(&self) -> &str {
        &self.echoes[self.probe_target].name
    }

    /// Gateway `gw`'s `config_revision` from `GET /v1/status`.
    pub async fn config_revision(&self, gw: usize) -> anyhow::Result<i64> {
        let url = format!("{}/v1/status", self.gateways[gw].control_base());
        let status: Value = http_client()
            .get(&url)
            .timeout(POLL_STEP)
            .send()
            .await?
            .json()
            .await?;
        status["config_revision"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("GET {url}: no config_revision in {status}"))
    }

    /// The greeting of a new connection through gateway `gw`'s `probe` listener.
    pub async fn probe_greeting(&self, gw: usize) -> anyhow::Result<String> {
        let addr = self.gateways[gw].tcp_addr(PROBE);
        tokio::time::timeout(POLL_STEP, client::greeting(addr))
            .await
            .map_err(|_| anyhow::anyhow!("{addr}: no greeting within {POLL_STEP:?}"))?
    }

    /// Switches route `probe` to the other echo node with a write through gateway `via`;
    /// returns the new node's name (without waiting for anyone to apply it).
    pub async fn switch_probe(&mut self, via: usize) -> anyhow::Result<String> {
        let next = 1 - self.probe_target;
        let reply = self.gateways[via]
            .admin_request(Method::PUT, "/upstreams/probe")
            .json(&upstream_to(&self.echoes[next]))
            .try_send()
            .await?;
        anyhow::ensure!(
            reply.status == 200,
            "PUT /upstreams/probe through gw{}: {} {}",
            via + 1,
            reply.status,
            reply.text
        );
        self.probe_target = next;
        Ok(self.probe_name().to_string())
    }

    /// [`Fleet::switch_probe`], then waits until every gateway is at etcd's revision and
    /// serves the new node; returns the time from the write to that point.
    pub async fn converge(&mut self, via: usize, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let name = self.switch_probe(via).await?;
        let revision = self
            .wait_converged(&name, limit.saturating_sub(started.elapsed()))
            .await?;
        let took = started.elapsed();
        self.say(&format!(
            "convergence: write through gw{} -> every gateway at etcd revision {revision} and \
             serving node {name} after {took:.2?}",
            via + 1
        ));
        Ok(took)
    }

    /// Waits (up to `limit`) until every gateway's `config_revision` equals etcd's revision and
    /// its `probe` listener greets with `name`; returns that revision.
    pub async fn wait_converged(&self, name: &str, limit: Duration) -> anyhow::Result<i64> {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.converged_now(name).await {
                Ok(revision) => return Ok(revision),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                anyhow::bail!("the fleet did not converge within {limit:?}: {last}");
            }
            tokio::time::sleep(wait::POLL_INTERVAL).await;
        }
    }

    async fn converged_now(&self, name: &str) -> anyhow::Result<i64> {
        let revision = self.etcd.revision().await?;
        for gw in 0..self.gateways.len() {
            let theirs = self.config_revision(gw).await?;
            anyhow::ensure!(
                theirs == revision,
                "gw{} is at revision {theirs}, etcd at {revision}",
                gw + 1
            );
            let greeting = self.probe_greeting(gw).await?;
            anyhow::ensure!(
                greeting == name,
                "gw{} probe reached node {greeting:?}, not {name:?}",
                gw + 1
            );
        }
        Ok(revision)
    }

    /// Time until an Admin write (`PUT /upstreams/recovery-gwN`) through gateway `gw`
    /// succeeds, polling up to `limit`.
    pub async fn wait_writable(&self, gw: usize, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let path = format!("/upstreams/recovery-gw{}", gw + 1);
        let body = upstream_to(&self.echoes[0]);
        wait::until(
            &format!("an Admin write through gw{}", gw + 1),
            limit,
            || {
                let req = self.gateways[gw]
                    .admin_request(Method::PUT, &path)
                    .json(&body);
                async move {
                    let reply = req.try_send().await.ok()?;
                    (reply.status == 200 || reply.status == 201).then_some(())
                }
            },
        )
        .await?;
        Ok(started.elapsed())
    }

    /// Sends a few Admin requests through gateway `gw` at once while its store is unavailable:
    /// every write must answer 503 with a JSON `error_msg`, every request within `bound`.
    pub async fn expect_store_unavailable(
        &self,
        gw: usize,
        bound: Duration,
    ) -> anyhow::Result<OutageStats> {
        let label = format!("gw{}", gw + 1);
        let writes = [
            (Method::PUT, format!("/upstreams/outage-{label}"), true),
            (Method::PUT, format!("/stream_routes/outage-{label}"), true),
            (Method::GET, "/stream_routes".to_string(), false),
        ];
        let body = json!({"server_port": 9, "upstream": upstream_to(&self.echoes[0])});
        let requests = writes.iter().map(|(method, path, is_write)| {
            let mut req = self.gateways[gw].admin_request(method.clone(), path);
            if *method == Method::PUT {
                let body = if path.starts_with("/upstreams") {
                    upstream_to(&self.echoes[0])
                } else {
                    body.clone()
                };
                req = req.json(&body);
            }
            async move {
                let started = Instant::now();
                let reply = req.try_send().await;
                (
                    format!("{method} {path}"),
                    *is_write,
                    reply,
                    started.elapsed(),
                )
            }
        });
        let mut stats = OutageStats::default();
        for (what, is_write, reply, latency) in futures::future::join_all(requests).await {
            let reply = reply.map_err(|e| anyhow::anyhow!("{label} {what}: {e:#}"))?;
            anyhow::ensure!(
                latency <= bound,
                "{label} {what} took {latency:.2?} (bound {bound:?}): {} {}",
                reply.status,
                reply.text
            );
            stats.max_latency = stats.max_latency.max(latency);
            if is_write {
                anyhow::ensure!(
                    reply.status == 503 && !reply.error_msg().is_empty(),
                    "{label} {what} while the store is unavailable: {} {} (want 503 with error_msg)",
                    reply.status,
                    reply.text
                );
                stats.writes_503 += 1;
            } else {
                stats.reads += 1;
            }
        }
        Ok(stats)
    }
}
