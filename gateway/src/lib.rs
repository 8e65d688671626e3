//! `apisix-gateway`: an Apache APISIX-compatible L4 (TCP/UDP) gateway.
//!
//! Layout (the flow of configuration, then of a connection):
//! - [`config`]: `conf/config.yaml` → a validated [`config::Config`].
//! - [`store`]: the configuration store trait and its backends (embedded redb, ...).
//! - [`admin`]: the Admin API (`/apisix/admin/...`): validates writes with `model`, writes the store.
//! - [`snapshot`]: store watch → compiled immutable [`snapshot::Snapshot`] swapped in with `ArcSwap`.
//! - [`router`]: stream route matching (SNI, `remote_addr`, `server_addr`, `server_port`).
//! - [`balancer`]: node selection (roundrobin, chash, least_conn, ewma) and retries.
//! - [`proxy`]: listeners, the TCP relay and UDP sessions.
//! - [`proxy_protocol`]: PROXY protocol v1/v2 headers, in from load balancers and out to upstreams.
//! - [`tls`]: TLS termination (cert by SNI, mTLS), SNI preread, TLS to upstreams.
//! - [`plugins`]: stream plugins (ip-restriction, limit-conn, mqtt-proxy, traffic-split) in preread.
//! - [`runtime`]: the runtime layout (per-core `current_thread` workers or multi-thread).
//! - [`server`]: wires everything together and runs until shutdown.
//! - [`observe`]: the sink of finished sessions, feeding [`routestats`], [`metrics`] and
//!   [`accesslog`]; [`control`] serves the Control API.
//! - [`http_server`]: the HTTP/1 server loop of the Admin API, the Control API and metrics.
//! - [`var_template`]: `$var` / `${var}` templates (access log format, chash keys).

pub mod accesslog;
pub mod admin;
pub mod balancer;
pub mod config;
pub mod conn;
pub mod control;
pub mod health;
pub mod http_reply;
pub mod http_server;
pub mod metrics;
pub mod plugins;
pub mod proxy;
pub mod proxy_protocol;
pub mod route;
pub mod router;
pub mod runtime;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod var_template;
