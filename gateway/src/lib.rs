//! `apisix-gateway`: an Apache APISIX-compatible L4 (TCP/UDP) gateway.
//!
//! Layout (the flow of configuration, then of a connection). Modules depend only downwards:
//! `scripts/module_cycles.py` (in `make lint` and `make test`) fails on an import cycle.
//! - [`config`]: `conf/config.yaml` → a validated [`config::Config`].
//! - [`store`]: the configuration store trait and its backends (embedded redb, etcd, yaml).
//! - [`admin`]: the Admin API (`/apisix/admin/...`): validates writes with `model`, writes the store.
//! - [`snapshot`]: store watch → compiled immutable [`snapshot::Snapshot`] swapped in with
//!   `ArcSwap`; routes, their plugin chains and the TLS cert index are compiled with it.
//! - [`conn`], [`route`], [`session`]: the leaf types the stages share (a connection's
//!   addresses, a compiled route, a finished session and its sinks).
//! - [`router`]: stream route matching (SNI, `remote_addr`, `server_addr`, `server_port`).
//! - [`balancer`]: node selection (roundrobin, chash, least_conn, ewma) and retries.
//! - [`dns`]: node host names kept resolved in the background (hickory-resolver, record TTLs).
//! - [`plugins`]: stream plugins behind the [`plugins::StreamPlugin`] trait (preread and log).
//! - [`tls`], [`proxy_protocol`]: certificates, keyring and SNI reading; PROXY headers.
//! - [`proxy`]: listeners, the connection front (TLS, SNI preread), the TCP relay and UDP
//!   sessions, the session recorder.
//! - [`health`]: active health probes.
//! - [`accesslog`], [`metrics`]: session sinks; [`control`] serves the Control API.
//! - [`logging`]: the gateway's own log (file or stderr, level, text or JSON lines).
//! - [`runtime`]: the runtime layout (per-core `current_thread` workers or multi-thread).
//! - [`server`]: the composition root: wires everything together and runs until shutdown.
//! - [`http_server`], [`http_reply`]: the HTTP/1 server loop of the Admin API, the Control API
//!   and metrics, and its response helpers.
//! - [`var_template`]: `$var` / `${var}` templates (access log format, chash keys).

pub mod accesslog;
pub mod admin;
pub mod balancer;
pub mod config;
pub mod conn;
pub mod control;
pub mod dns;
pub mod health;
pub mod http_reply;
pub mod http_server;
pub mod logging;
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
