//! Stream plugins: each route's plugin chain is compiled once per snapshot, with the
//! snapshot, from the already-validated `plugins` JSON (never re-validated here), and held by
//! the route ([`crate::route::ResolvedRoute::chain`]). A connection runs the preread phase
//! after routing, highest priority first, and the log phase when it ends.
//!
//! Layout: every plugin sits behind the [`StreamPlugin`] trait, one file each
//! ([`ip_restriction`], [`limit_conn`], [`mqtt`], [`traffic_split`] in preread; [`syslog`] in
//! the log phase), listed by name in [`registry`]. [`vars`] holds the stream variables
//! (`$remote_addr`, ...) and [`expr`] the `vars` expressions of traffic-split. Only plugins
//! enabled in `config.stream.plugins` are compiled, and a conf with `_meta.disable: true` is
//! skipped. What plugins keep across snapshots (limit-conn counters, syslog senders) is the
//! [`PluginState`], carried from one snapshot to the next. `docs/plugins.md` shows how to add
//! one.
//!
//! Use by the proxy, per connection, after routing: [`Chain::preread`] → [`Preread::Reject`]
//! (close with that status) or [`Preread::Continue`] holding the connection's
//! [`PluginSession`] (variables for the balancer, a replacement upstream, and the limit-conn
//! guards, released when it is dropped); at the end [`Chain::log`] with the session's record.

pub mod expr;
pub mod ip_restriction;
pub mod limit_conn;
pub mod mqtt;
pub mod registry;
pub mod syslog;
pub mod traffic_split;
pub mod vars;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::balancer::UpstreamRuntime;
use crate::conn::ConnInfo;
use crate::session::SessionRecord;

use limit_conn::{ConnCounters, LimitGuard};
use syslog::SyslogLogger;
use vars::StreamVars;

/// nginx status of a refused session: `ip-restriction`.
pub const FORBIDDEN: u16 = 403;
/// nginx status of a refused session: `limit-conn`, `mqtt-proxy`.
pub const SERVICE_UNAVAILABLE: u16 = 503;

/// One compiled stream plugin of one route.
#[async_trait]
pub trait StreamPlugin: Send + Sync + std::fmt::Debug {
    /// Whether it has preread work (only those are run in preread).
    fn prereads(&self) -> bool {
        true
    }

    /// Whether it has log work (only those are run in the log phase).
    fn logs(&self) -> bool {
        false
    }

    /// The preread phase of one connection: `Err(status)` refuses it (403, 503, ...).
    async fn preread(&self, _cx: &mut PrereadContext<'_>) -> Result<(), u16> {
        Ok(())
    }

    /// The log phase of one finished session. Never block.
    fn log(&self, _record: &SessionRecord) {}
}

/// What stream plugins keep across snapshots.
#[derive(Debug, Default)]
pub struct PluginState {
    /// limit-conn's counters.
    pub counters: Arc<ConnCounters>,
    /// syslog's batch workers and counters.
    pub syslog: Arc<SyslogLogger>,
}

/// What a plugin is compiled with: its route as the snapshot being built holds it.
#[derive(Debug)]
pub struct ChainContext<'a> {
    pub route_id: &'a str,
    /// The route's `mod_revision`.
    pub mod_revision: i64,
    pub service_id: Option<&'a str>,
    /// The route's resolved upstream.
    pub route_upstream: Option<Arc<UpstreamRuntime>>,
    /// The snapshot's upstream objects by id.
    pub upstreams: &'a BTreeMap<String, Arc<UpstreamRuntime>>,
    /// The snapshot's plugin metadata by plugin name.
    pub plugin_metadata: &'a BTreeMap<String, Value>,
    /// `stream_plugins` of config.yaml.
    pub enabled: &'a [String],
    pub state: &'a Arc<PluginState>,
    /// The DNS client that upstreams compiled by plugins (traffic-split) track names in.
    pub dns: &'a crate::dns::Dns,
}

impl ChainContext<'_> {
    /// `stream_routes/<id>`, for logs and counter keys.
    pub fn route_key(&self) -> String {
        format!("stream_routes/{}", self.route_id)
    }
}

/// What the preread phase of one connection reads and sets.
#[derive(Debug)]
pub struct PrereadContext<'a> {
    pub conn: &'a ConnInfo,
    pub route_id: &'a str,
    /// The TCP client socket (peeked by mqtt-proxy, never read); `None` for UDP.
    pub client: Option<&'a TcpStream>,
    pub session: PluginSession,
}

impl PrereadContext<'_> {
    /// The stream variables, those set by earlier plugins included.
    pub fn vars(&self) -> StreamVars<'_> {
        StreamVars {
            conn: self.conn,
            route_id: self.route_id,
            extra: &self.session.vars,
        }
    }
}

/// A route's compiled plugins, highest priority first.
#[derive(Debug, Default)]
pub struct Chain {
    preread: Vec<Arc<dyn StreamPlugin>>,
    log: Vec<Arc<dyn StreamPlugin>>,
}

impl Chain {
    /// Compiles the `plugins` (route over service) of the route in `cx` that are enabled, not
    /// disabled, and known to the [`registry`].
    pub fn compile(plugins: &BTreeMap<String, Value>, cx: &ChainContext<'_>) -> Chain {
        let mut found: Vec<(i64, Arc<dyn StreamPlugin>)> = Vec::new();
        for (name, conf) in plugins {
            if !cx.enabled.iter().any(|e| e == name) || is_disabled(conf) {
                continue;
            }
            let (Some(priority), Some(build)) =
                (model::plugins::plugin_priority(name), registry::find(name))
            else {
                continue;
            };
            if let Some(plugin) = build(conf, cx) {
                found.push((priority, plugin));
            }
        }
        found.sort_by_key(|p| std::cmp::Reverse(p.0));
        let pick = |phase: fn(&dyn StreamPlugin) -> bool| {
            found
                .iter()
                .filter(|(_, p)| phase(p.as_ref()))
                .map(|(_, p)| p.clone())
                .collect()
        };
        Chain {
            preread: pick(|p| p.prereads()),
            log: pick(|p| p.logs()),
        }
    }

    /// Whether the chain has no plugin to run.
    pub fn is_empty(&self) -> bool {
        self.preread.is_empty() && self.log.is_empty()
    }

    /// Runs the preread phase for `conn` routed to `route_id`. `client` is the TCP client
    /// socket (peeked by mqtt-proxy, never read); `None` for UDP.
    pub async fn preread(
        &self,
        conn: &ConnInfo,
        route_id: &str,
        client: Option<&TcpStream>,
    ) -> Preread {
        let mut cx = PrereadContext {
            conn,
            route_id,
            client,
            session: PluginSession::default(),
        };
        for plugin in &self.preread {
            if let Err(code) = plugin.preread(&mut cx).await {
                tracing::info!(client = %conn.remote, route = %route_id, status = code, "stream plugin rejected the connection");
                return Preread::Reject(code);
            }
        }
        Preread::Continue(cx.session)
    }

    /// Runs the log phase for one finished session of this route.
    pub fn log(&self, record: &SessionRecord) {
        for plugin in &self.log {
            plugin.log(record);
        }
    }
}

fn is_disabled(conf: &Value) -> bool {
    conf.pointer("/_meta/disable") == Some(&Value::Bool(true))
}

/// What the preread phase decided.
#[derive(Debug)]
pub enum Preread {
    /// Proxy the connection with this session state.
    Continue(PluginSession),
    /// Close the connection; the nginx status (403, 503).
    Reject(u16),
}

/// A connection's plugin state; dropping it releases limit-conn counters.
#[derive(Debug, Default)]
pub struct PluginSession {
    /// Variables set by plugins (`mqtt_client_id`), for `PickState::with_vars`.
    pub vars: Vec<(String, String)>,
    /// The upstream chosen by traffic-split, replacing the route's for this connection.
    pub upstream: Option<Arc<UpstreamRuntime>>,
    /// limit-conn's counts, released when the session ends.
    pub guards: Vec<LimitGuard>,
}
