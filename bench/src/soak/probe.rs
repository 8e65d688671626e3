//! [`GatewayProbe`]: one reading of the gateway under test: its RSS and open file descriptors
//! from `/proc/<pid>`, its live sessions from the Control API (`GET /v1/status`,
//! `sessions.in_use`), and its counters from the Prometheus export (text format).

use std::time::Duration;

use anyhow::Context;
use model::client::ControlClient;
use prometheus_parse::{Scrape, Value};

/// Bound of one Control API or metrics request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gateway reports about itself at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GatewayReading {
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kb: u64,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: u64,
    /// Live client sessions (`/v1/status` `sessions.in_use`).
    pub sessions: u64,
    /// Finished sessions, every route (`apisix_stream_connection_total`, summed).
    pub sessions_total: u64,
    /// Finished sessions with a status other than 200 (`apisix_stream_status`, summed).
    pub sessions_failed: u64,
    /// Bytes received from clients (`apisix_stream_bandwidth` ingress/downstream, summed).
    pub bytes_from_clients: u64,
}

/// Reads the gateway with process id `pid`.
#[derive(Debug, Clone)]
pub struct GatewayProbe {
    pid: u32,
    control: ControlClient,
    http: reqwest::Client,
    metrics_url: String,
}

impl GatewayProbe {
    /// A probe of process `pid`, its Control API at `control_url` and metrics at `metrics_url`.
    pub fn new(pid: u32, control_url: &str, metrics_url: &str) -> anyhow::Result<GatewayProbe> {
        Ok(GatewayProbe {
            pid,
            control: ControlClient::new(control_url, REQUEST_TIMEOUT)
                .with_context(|| format!("control api url {control_url}"))?,
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("http client")?,
            metrics_url: metrics_url.to_owned(),
        })
    }

    /// The Control API client (also used to wait for the routes).
    pub fn control(&self) -> &ControlClient {
        &self.control
    }

    /// One reading.
    pub async fn read(&self) -> anyhow::Result<GatewayReading> {
        let status = self
            .control
            .status()
            .await
            .context("control api /v1/status")?;
        let text = self
            .http
            .get(&self.metrics_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("metrics {}", self.metrics_url))?
            .text()
            .await
            .with_context(|| format!("metrics {}", self.metrics_url))?;
        let counters = Counters::parse(&text)?;
        Ok(GatewayReading {
            rss_kb: rss_kb(self.pid)?,
            fds: open_fds(self.pid)?,
            sessions: status.sessions.in_use,
            sessions_total: counters.sessions_total,
            sessions_failed: counters.sessions_failed,
            bytes_from_clients: counters.bytes_from_clients,
        })
    }
}

/// `VmRSS` of `pid`, KiB.
fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}

/// Open file descriptors of `pid`.
fn open_fds(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).with_context(|| format!("cannot list {path}"))?;
    Ok(entries.count() as u64)
}

/// The counters a reading takes from the metrics text.
#[derive(Debug, Default, PartialEq)]
struct Counters {
    sessions_total: u64,
    sessions_failed: u64,
    bytes_from_clients: u64,
}

impl Counters {
    fn parse(text: &str) -> anyhow::Result<Counters> {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .context("metrics do not parse")?;
        let mut counters = Counters::default();
        for sample in &scrape.samples {
            let value = match sample.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v as u64,
                _ => continue,
            };
            let label = |name: &str| sample.labels.get(name).unwrap_or("");
            match sample.metric.as_str() {
                "apisix_stream_connection_total" => counters.sessions_total += value,
                "apisix_stream_status" if label("code") != "200" => {
                    counters.sessions_failed += value;
                }
                "apisix_stream_bandwidth"
                    if label("type") == "ingress" && label("side") == "downstream" =>
                {
                    counters.bytes_from_clients += value;
                }
                _ => {}
            }
        }
        Ok(counters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_every_route_and_count_only_non_200_statuses_as_failed() {
        let text = "\
# TYPE apisix_stream_connection_total counter
apisix_stream_connection_total{route=\"a\"} 5
apisix_stream_connection_total{route=\"\"} 2
# TYPE apisix_stream_status counter
apisix_stream_status{code=\"200\",listen_addr=\"127.0.0.1:1\",node=\"127.0.0.1:2\"} 5
apisix_stream_status{code=\"503\",listen_addr=\"127.0.0.1:1\",node=\"\"} 2
# TYPE apisix_stream_bandwidth counter
apisix_stream_bandwidth{listen_addr=\"127.0.0.1:1\",type=\"ingress\",side=\"downstream\"} 100
apisix_stream_bandwidth{listen_addr=\"127.0.0.1:1\",type=\"egress\",side=\"downstream\"} 90
";
        let counters = Counters::parse(text).expect("parses");
        assert_eq!(
            counters,
            Counters {
                sessions_total: 7,
                sessions_failed: 2,
                bytes_from_clients: 100,
            }
        );
    }

    #[test]
    fn this_process_has_memory_and_open_files() {
        let pid = std::process::id();
        assert!(rss_kb(pid).expect("rss") > 0);
        assert!(open_fds(pid).expect("fds") >= 3);
    }
}
