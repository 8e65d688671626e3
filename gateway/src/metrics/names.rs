//! Every exported metric name and help text, in one place. Names are given without the
//! configurable prefix (`plugin_attr.prometheus.metric_prefix`, default `apisix_`).
//!
//! Counters are exported with a `_total` suffix, so [`STREAM_CONNECTION`] is exported as
//! `apisix_stream_connection_total`. APISIX exports `stream_status` and `stream_bandwidth` as
//! counters *without* that suffix: the text format (the default) keeps them as counters under
//! those names; OpenMetrics forbids that, so there they have the `unknown` type (see
//! docs/metrics.md).

/// How a metric family is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A counter exported under its exact name (no `_total`).
    Untyped,
}

/// One exported metric family: its name without the prefix, its help text (APISIX's where
/// APISIX has the metric) and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

/// `<prefix>stream_connection_total{route}`: finished sessions per stream route.
pub const STREAM_CONNECTION: Metric = Metric {
    name: "stream_connection",
    help: "Total number of connections handled per stream route in APISIX",
    kind: Kind::Counter,
};

/// `<prefix>stream_active_connections{listen_addr}`: live sessions, TCP and UDP.
pub const STREAM_ACTIVE_CONNECTIONS: Metric = Metric {
    name: "stream_active_connections",
    help: "Number of active stream connections per listen address",
    kind: Kind::Gauge,
};

/// `<prefix>stream_status{code,listen_addr,node}`: finished sessions by nginx `$status`.
pub const STREAM_STATUS: Metric = Metric {
    name: "stream_status",
    help: "Stream session status codes per listen address and upstream node",
    kind: Kind::Untyped,
};

/// `<prefix>stream_bandwidth{listen_addr,type,side}`: bytes, live sessions included.
pub const STREAM_BANDWIDTH: Metric = Metric {
    name: "stream_bandwidth",
    help: "Total stream bandwidth in bytes per listen address, direction and side",
    kind: Kind::Untyped,
};

/// `<prefix>upstream_status{name,ip,port}`: node health, 1 healthy, 0 unhealthy.
pub const UPSTREAM_STATUS: Metric = Metric {
    name: "upstream_status",
    help: "Upstream status from health check",
    kind: Kind::Gauge,
};

/// `<prefix>etcd_reachable`: whether the configuration store answers (1/0).
pub const ETCD_REACHABLE: Metric = Metric {
    name: "etcd_reachable",
    help: "Config server etcd reachable from APISIX, 0 is unreachable",
    kind: Kind::Gauge,
};

/// `<prefix>node_info{hostname,version}`: always 1.
pub const NODE_INFO: Metric = Metric {
    name: "node_info",
    help: "Info of APISIX node",
    kind: Kind::Gauge,
};

/// `<prefix>access_log_dropped`: access log records dropped because the writer fell behind
/// (ours; exported as `..._total`).
pub const ACCESS_LOG_DROPPED: Metric = Metric {
    name: "access_log_dropped",
    help: "Stream access log records dropped because the writer fell behind",
    kind: Kind::Counter,
};

/// `<prefix>error_log_dropped`: error log lines dropped because the writer fell behind
/// (ours; exported as `..._total`).
pub const ERROR_LOG_DROPPED: Metric = Metric {
    name: "error_log_dropped",
    help: "Error log lines dropped because the writer fell behind",
    kind: Kind::Counter,
};

/// `<prefix>stream_connection_limit_milliseconds`: time spent with every
/// `worker_connections` slot of a worker taken (ours; exported as `..._total`).
pub const CONNECTION_LIMIT: Metric = Metric {
    name: "stream_connection_limit_milliseconds",
    help: "Time spent at the worker_connections cap, new clients waiting in the kernel backlog",
    kind: Kind::Counter,
};

/// `<prefix>upstream_dns_failures{host,reason}`: failed DNS lookups of upstream node names
/// (ours; exported as `..._total`; `reason` is `nxdomain`, `no_records`, `timeout` or `error`).
pub const UPSTREAM_DNS_FAILURES: Metric = Metric {
    name: "upstream_dns_failures",
    help: "Failed DNS lookups of upstream node host names, by host and reason",
    kind: Kind::Counter,
};

/// Label values of `type` and `side` in [`STREAM_BANDWIDTH`], in the order of
/// [`Bandwidth`](super::Bandwidth)'s fields.
pub const BANDWIDTH_LABELS: [(&str, &str); 4] = [
    ("ingress", "downstream"),
    ("egress", "downstream"),
    ("ingress", "upstream"),
    ("egress", "upstream"),
];
