//! Prometheus metrics (`plugin_attr.prometheus`, REFERENCE.md §8): the counters kept from
//! finished sessions ([`StreamMetrics`]), the exposition built at scrape time from them, the
//! live connection registry and the snapshot ([`MetricsContext::render`]), and the export
//! server ([`server`]). Every metric name is in [`names`].
//!
//! Two encodings of the same values: Prometheus text 0.0.4 ([`text`], the default, as APISIX
//! answers) and OpenMetrics (prometheus-client, through one custom collector that owns the
//! values read at scrape time) for scrapers whose `Accept` asks for it.

pub mod names;
pub mod server;
pub mod text;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use self::names::Kind;
use crate::accesslog::AccessLogSender;
use crate::proxy::ProxyContext;
use crate::session::{SessionRecord, SessionSink};
use crate::snapshot::SharedSnapshot;
use crate::store::Store;

/// Bytes per listener in the order of [`names::BANDWIDTH_LABELS`]: ingress downstream (from
/// clients), egress downstream (to clients), ingress upstream, egress upstream.
pub type Bandwidth = [u64; 4];

fn bandwidth_of(bytes_in: u64, bytes_out: u64) -> Bandwidth {
    [bytes_in, bytes_out, bytes_out, bytes_in]
}

#[derive(Debug, Default)]
struct Counters {
    /// By route label.
    connections: BTreeMap<String, u64>,
    /// By (code, listen_addr, node).
    status: BTreeMap<(u16, SocketAddr, Option<SocketAddr>), u64>,
    /// Finished sessions' bytes by listen_addr.
    bandwidth: BTreeMap<SocketAddr, Bandwidth>,
    /// The last exported bandwidth (finished + live), so counters never go down while a
    /// session moves from live to finished.
    exported: BTreeMap<SocketAddr, Bandwidth>,
}

/// Counters fed by finished sessions (one short lock per session end, none per byte).
#[derive(Debug, Default)]
pub struct StreamMetrics {
    counters: Mutex<Counters>,
}

impl StreamMetrics {
    /// Counts one finished session (its `route` label is `""` when it had no route).
    /// Allocates only for a label, code, listener or node seen for the first time.
    pub fn record(&self, record: &SessionRecord) {
        let route_label = record.route_label.as_deref().unwrap_or("");
        let mut c = self
            .counters
            .lock()
            .expect("metrics lock is never poisoned");
        match c.connections.get_mut(route_label) {
            Some(n) => *n += 1,
            None => {
                c.connections.insert(route_label.to_owned(), 1);
            }
        }
        *c.status
            .entry((record.status, record.listener, record.node))
            .or_default() += 1;
        let add = bandwidth_of(record.bytes_in, record.bytes_out);
        let bw = c.bandwidth.entry(record.listener).or_default();
        for (total, n) in bw.iter_mut().zip(add) {
            *total += n;
        }
    }
}

impl SessionSink for StreamMetrics {
    fn finish(&self, record: &SessionRecord) {
        self.record(record);
    }
}

/// What the export server reads at each scrape.
pub struct MetricsContext {
    pub proxy: Arc<ProxyContext>,
    /// The counters fed by finished sessions.
    pub stream: Arc<StreamMetrics>,
    /// The access log writer, when enabled (its drop count).
    pub access_log: Option<AccessLogSender>,
    pub snapshot: SharedSnapshot,
    pub store: Option<Arc<dyn Store>>,
    /// `plugin_attr.prometheus.metric_prefix` (`apisix_`).
    pub metric_prefix: String,
    /// `deployment.etcd.prefix` (`/apisix`), for `upstream_status`'s `name`.
    pub key_prefix: String,
}

impl std::fmt::Debug for MetricsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsContext")
            .field("metric_prefix", &self.metric_prefix)
            .finish_non_exhaustive()
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Family {
    name: String,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Labels, u64)>,
}

/// The values of one scrape, encoded by prometheus-client.
#[derive(Debug)]
struct Exposition(Vec<Family>);

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Untyped => MetricType::Unknown,
            };
            let mut metric =
                encoder.encode_descriptor(&family.name, family.help, None, metric_type)?;
            for (labels, value) in &family.samples {
                if labels.is_empty() {
                    // No `{}` for unlabelled samples.
                    encode_value(&mut metric, family.kind, *value)?;
                } else {
                    encode_value(&mut metric.encode_family(labels)?, family.kind, *value)?;
                }
            }
        }
        Ok(())
    }
}

fn encode_value(sample: &mut MetricEncoder<'_>, kind: Kind, value: u64) -> std::fmt::Result {
    match kind {
        Kind::Counter => sample.encode_counter::<NoLabelSet, _, u64>(&value, None),
        Kind::Gauge | Kind::Untyped => sample.encode_gauge(&value),
    }
}

/// The host name for `node_info`.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl MetricsContext {
    /// The exposition text of the current state, in `format`.
    pub async fn render(&self, format: text::Exposition) -> String {
        let reachable = match &self.store {
            Some(store) => store.reachable().await,
            None => false,
        };
        let families = self.families(reachable);
        if format == text::Exposition::Text {
            return text::encode(&families);
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Exposition(families)));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }

    fn families(&self, reachable: bool) -> Vec<Family> {
        let p = &self.metric_prefix;
        let family = |metric: names::Metric, samples| Family {
            name: format!("{p}{}", metric.name),
            help: metric.help,
            kind: metric.kind,
            samples,
        };

        // Live sessions by listener: count and bytes so far.
        let mut active: BTreeMap<SocketAddr, u64> = BTreeMap::new();
        let mut live: BTreeMap<SocketAddr, Bandwidth> = BTreeMap::new();
        for handle in self.proxy.registry.list() {
            *active.entry(handle.routed.local).or_default() += 1;
            let add = bandwidth_of(handle.bytes_up(), handle.bytes_down());
            let bw = live.entry(handle.routed.local).or_default();
            for (total, n) in bw.iter_mut().zip(add) {
                *total += n;
            }
        }

        let metrics = &self.stream;
        let mut c = metrics
            .counters
            .lock()
            .expect("metrics lock is never poisoned");
        let connections = c
            .connections
            .iter()
            .map(|(route, n)| (vec![("route", route.clone())], *n))
            .collect();
        let status = c
            .status
            .iter()
            .map(|((code, listen, node), n)| {
                (
                    vec![
                        ("code", code.to_string()),
                        ("listen_addr", listen.to_string()),
                        ("node", node.map(|n| n.to_string()).unwrap_or_default()),
                    ],
                    *n,
                )
            })
            .collect();
        let mut listeners: Vec<SocketAddr> = c.bandwidth.keys().copied().collect();
        listeners.extend(live.keys().copied());
        listeners.sort();
        listeners.dedup();
        let mut bandwidth = Vec::new();
        for listen in &listeners {
            let finished = c.bandwidth.get(listen).copied().unwrap_or_default();
            let running = live.get(listen).copied().unwrap_or_default();
            let last = c.exported.get(listen).copied().unwrap_or_default();
            let mut now = [0u64; 4];
            for i in 0..4 {
                now[i] = (finished[i] + running[i]).max(last[i]);
            }
            c.exported.insert(*listen, now);
            for (i, (ty, side)) in names::BANDWIDTH_LABELS.iter().enumerate() {
                bandwidth.push((
                    vec![
                        ("listen_addr", listen.to_string()),
                        ("type", (*ty).to_owned()),
                        ("side", (*side).to_owned()),
                    ],
                    now[i],
                ));
            }
        }
        let active = listeners
            .iter()
            .map(|l| {
                (
                    vec![("listen_addr", l.to_string())],
                    active.get(l).copied().unwrap_or(0),
                )
            })
            .collect();
        drop(c);

        let snapshot = self.snapshot.load();
        let mut upstreams = Vec::new();
        for (key, runtime) in &snapshot.runtimes {
            if runtime.config.checks.is_none() {
                continue;
            }
            for node in runtime.nodes() {
                upstreams.push((
                    vec![
                        ("name", format!("{}/{}", self.key_prefix, key)),
                        ("ip", node.info.host.clone()),
                        ("port", node.info.port.to_string()),
                    ],
                    u64::from(node.info.healthy),
                ));
            }
        }
        let dns_failures = snapshot
            .dns
            .failure_counts()
            .into_iter()
            .map(|(host, kind, n)| {
                (
                    vec![("host", host), ("reason", kind.as_str().to_owned())],
                    n,
                )
            })
            .collect();
        let at_cap_ms =
            u64::try_from(self.proxy.admission.time_at_cap().as_millis()).unwrap_or(u64::MAX);
        let dropped = self
            .access_log
            .as_ref()
            .map(|log| log.dropped())
            .unwrap_or(0);

        vec![
            family(names::STREAM_CONNECTION, connections),
            family(names::STREAM_ACTIVE_CONNECTIONS, active),
            family(names::STREAM_STATUS, status),
            family(names::STREAM_BANDWIDTH, bandwidth),
            family(names::UPSTREAM_STATUS, upstreams),
            family(names::ETCD_REACHABLE, vec![(vec![], u64::from(reachable))]),
            family(
                names::NODE_INFO,
                vec![(
                    vec![
                        ("hostname", hostname()),
                        ("version", env!("CARGO_PKG_VERSION").to_owned()),
                    ],
                    1,
                )],
            ),
            family(names::ACCESS_LOG_DROPPED, vec![(vec![], dropped)]),
            family(
                names::ERROR_LOG_DROPPED,
                vec![(vec![], crate::logging::dropped_lines())],
            ),
            family(names::CONNECTION_LIMIT, vec![(vec![], at_cap_ms)]),
            family(names::UPSTREAM_DNS_FAILURES, dns_failures),
        ]
    }
}
