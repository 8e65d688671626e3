//! Every exported metric name and help text, in one place. Names are given without the
//! configurable prefix (`plugin_attr.prometheus.metric_prefix`, default `apisix_`).
//!
//! Counters are exported with a `_total` suffix, so [`STREAM_CONNECTION`] is exported as
//! `apisix_stream_connection_total`. APISIX exports `stream_status` and `stream_bandwidth` as
//! counters *without* that suffix: the text format (the default) keeps them as counters under
//! those names; OpenMetrics forbids that, so there they have the `unknown` type (see
//! docs/metrics.md).

/// `<prefix>stream_connection_total{route}`: finished sessions per stream route.
pub const STREAM_CONNECTION: &str = "stream_connection";
/// Help text of [`STREAM_CONNECTION`] (APISIX's).
pub const STREAM_CONNECTION_HELP: &str =
    "Total number of connections handled per stream route in APISIX";

/// `<prefix>stream_active_connections{listen_addr}`: live sessions, TCP and UDP.
pub const STREAM_ACTIVE_CONNECTIONS: &str = "stream_active_connections";
/// Help text of [`STREAM_ACTIVE_CONNECTIONS`].
pub const STREAM_ACTIVE_CONNECTIONS_HELP: &str =
    "Number of active stream connections per listen address";

/// `<prefix>stream_status{code,listen_addr,node}`: finished sessions by nginx `$status`.
pub const STREAM_STATUS: &str = "stream_status";
/// Help text of [`STREAM_STATUS`].
pub const STREAM_STATUS_HELP: &str =
    "Stream session status codes per listen address and upstream node";

/// `<prefix>stream_bandwidth{listen_addr,type,side}`: bytes, live sessions included.
pub const STREAM_BANDWIDTH: &str = "stream_bandwidth";
/// Help text of [`STREAM_BANDWIDTH`].
pub const STREAM_BANDWIDTH_HELP: &str =
    "Total stream bandwidth in bytes per listen address, direction and side";

/// `<prefix>upstream_status{name,ip,port}`: node health, 1 healthy, 0 unhealthy.
pub const UPSTREAM_STATUS: &str = "upstream_status";
/// Help text of [`UPSTREAM_STATUS`] (APISIX's).
pub const UPSTREAM_STATUS_HELP: &str = "Upstream status from health check";

/// `<prefix>etcd_reachable`: whether the configuration store answers (1/0).
pub const ETCD_REACHABLE: &str = "etcd_reachable";
/// Help text of [`ETCD_REACHABLE`] (APISIX's).
pub const ETCD_REACHABLE_HELP: &str = "Config server etcd reachable from APISIX, 0 is unreachable";

/// `<prefix>node_info{hostname,version}`: always 1.
pub const NODE_INFO: &str = "node_info";
/// Help text of [`NODE_INFO`] (APISIX's).
pub const NODE_INFO_HELP: &str = "Info of APISIX node";

/// `<prefix>access_log_dropped`: access log records dropped because the writer fell behind
/// (ours; exported as `..._total`).
pub const ACCESS_LOG_DROPPED: &str = "access_log_dropped";
/// Help text of [`ACCESS_LOG_DROPPED`].
pub const ACCESS_LOG_DROPPED_HELP: &str =
    "Stream access log records dropped because the writer fell behind";

/// `<prefix>error_log_dropped`: error log lines dropped because the writer fell behind
/// (ours; exported as `..._total`).
pub const ERROR_LOG_DROPPED: &str = "error_log_dropped";
/// Help text of [`ERROR_LOG_DROPPED`].
pub const ERROR_LOG_DROPPED_HELP: &str = "Error log lines dropped because the writer fell behind";

/// `<prefix>stream_connection_limit_milliseconds`: time spent with every
/// `worker_connections` slot of a worker taken (ours; exported as `..._total`).
pub const CONNECTION_LIMIT: &str = "stream_connection_limit_milliseconds";
/// Help text of [`CONNECTION_LIMIT`].
pub const CONNECTION_LIMIT_HELP: &str =
    "Time spent at the worker_connections cap, new clients waiting in the kernel backlog";

/// `<prefix>upstream_dns_failures{host,reason}`: failed DNS lookups of upstream node names
/// (ours; exported as `..._total`; `reason` is `nxdomain`, `no_records`, `timeout` or `error`).
pub const UPSTREAM_DNS_FAILURES: &str = "upstream_dns_failures";
/// Help text of [`UPSTREAM_DNS_FAILURES`].
pub const UPSTREAM_DNS_FAILURES_HELP: &str =
    "Failed DNS lookups of upstream node host names, by host and reason";

/// Label values of `type` and `side` in [`STREAM_BANDWIDTH`], in the order of
/// [`Bandwidth`](super::Bandwidth)'s fields.
pub const BANDWIDTH_LABELS: [(&str, &str); 4] = [
    ("ingress", "downstream"),
    ("egress", "downstream"),
    ("ingress", "upstream"),
    ("egress", "upstream"),
];
