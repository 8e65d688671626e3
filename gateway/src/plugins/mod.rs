//! The runtime of stream plugins: each route's plugin chain is compiled once per snapshot
//! from the already-validated `plugins` JSON (never re-validated here) and run in the preread
//! phase, highest priority first.
//!
//! Layout: [`ip_restriction`], [`limit_conn`], [`mqtt`] and [`traffic_split`] hold one plugin
//! each ([`syslog`] runs in the log phase, from the session sink); [`vars`] the stream variables (`$remote_addr`, ...) and [`expr`] the `vars`
//! expressions of traffic-split. Only plugins enabled in `config.stream_plugins` run, and a
//! conf with `_meta.disable: true` is skipped.
//!
//! Use by the proxy, per connection, after routing: [`PluginRuntime::preread`] →
//! [`Preread::Reject`] (close with that status) or [`Preread::Continue`] holding the
//! connection's [`PluginSession`] (variables for the balancer, a replacement upstream, and the
//! limit-conn guards, released when it is dropped).

pub mod expr;
pub mod ip_restriction;
pub mod limit_conn;
pub mod mqtt;
pub mod syslog;
pub mod traffic_split;
pub mod vars;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::balancer::UpstreamRuntime;
use crate::router::ConnInfo;
use crate::snapshot::{ResolvedRoute, Snapshot};

use ip_restriction::IpRestriction;
use limit_conn::{ConnCounters, LimitConn, LimitGuard};
use mqtt::MqttProxy;
use traffic_split::TrafficSplit;
use vars::StreamVars;

/// nginx status of a refused session: `ip-restriction`.
pub const FORBIDDEN: u16 = 403;
/// nginx status of a refused session: `limit-conn`, `mqtt-proxy`.
pub const SERVICE_UNAVAILABLE: u16 = 503;

/// One compiled plugin.
#[derive(Debug)]
enum Plugin {
    IpRestriction(IpRestriction),
    LimitConn(LimitConn),
    Mqtt(MqttProxy),
    TrafficSplit(TrafficSplit),
}

/// A route's compiled plugins, highest priority first.
#[derive(Debug, Default)]
pub struct Chain {
    plugins: Vec<Plugin>,
}

impl Chain {
    /// Compiles `route`'s plugins that are enabled and not disabled.
    pub fn compile(route: &ResolvedRoute, enabled: &[String], snapshot: &Snapshot) -> Chain {
        let mut found: Vec<(i64, Plugin)> = Vec::new();
        for (name, conf) in &route.plugins {
            if !enabled.iter().any(|e| e == name) || is_disabled(conf) {
                continue;
            }
            let Some(priority) = model::plugins::plugin_priority(name) else {
                continue;
            };
            let route_key = format!("stream_routes/{}", route.id);
            let plugin = match name.as_str() {
                "ip-restriction" => Plugin::IpRestriction(IpRestriction::compile(conf)),
                "limit-conn" => {
                    Plugin::LimitConn(LimitConn::compile(conf, &route_key, route.mod_revision))
                }
                "mqtt-proxy" => Plugin::Mqtt(MqttProxy::compile(conf)),
                "traffic-split" => Plugin::TrafficSplit(TrafficSplit::compile(
                    conf,
                    &route_key,
                    snapshot,
                    route.upstream.clone(),
                )),
                // prometheus and syslog have no preread work here (prometheus's
                // `prefer_name` is read by the observer).
                _ => continue,
            };
            found.push((priority, plugin));
        }
        found.sort_by_key(|p| std::cmp::Reverse(p.0));
        Chain {
            plugins: found.into_iter().map(|(_, p)| p).collect(),
        }
    }

    /// Whether the chain has no plugin to run.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

fn is_disabled(conf: &Value) -> bool {
    conf.pointer("/_meta/disable") == Some(&Value::Bool(true))
}

/// Chains of one snapshot by route id.
#[derive(Debug)]
struct Compiled {
    snapshot: Arc<Snapshot>,
    chains: HashMap<String, Arc<Chain>>,
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
    guards: Vec<LimitGuard>,
}

/// Runs stream plugins over the snapshot each connection pinned.
#[derive(Debug, Default)]
pub struct PluginRuntime {
    enabled: Vec<String>,
    compiled: ArcSwapOption<Compiled>,
    counters: Arc<ConnCounters>,
}

impl PluginRuntime {
    /// Plugins restricted to `enabled` (`config.stream_plugins`).
    pub fn new(enabled: Vec<String>) -> Self {
        PluginRuntime {
            enabled,
            compiled: ArcSwapOption::empty(),
            counters: Arc::new(ConnCounters::default()),
        }
    }

    /// The limit-conn counters (shared by every snapshot).
    pub fn counters(&self) -> &Arc<ConnCounters> {
        &self.counters
    }

    /// The compiled chain of `route_id` in `snapshot` (the one a connection pinned). Chains
    /// are compiled once per snapshot, for all its routes.
    pub fn chain_in(&self, snapshot: &Arc<Snapshot>, route_id: &str) -> Option<Arc<Chain>> {
        let current = self.compiled.load();
        if let Some(c) = current.as_ref() {
            if Arc::ptr_eq(&c.snapshot, snapshot) {
                return c.chains.get(route_id).cloned();
            }
        }
        let snapshot = snapshot.clone();
        let chains: HashMap<String, Arc<Chain>> = snapshot
            .route_map
            .values()
            .map(|r| (r.id.clone(), Chain::compile(r, &self.enabled, &snapshot)))
            .filter(|(_, c)| !c.is_empty())
            .map(|(id, c)| (id, Arc::new(c)))
            .collect();
        let found = chains.get(route_id).cloned();
        self.compiled
            .store(Some(Arc::new(Compiled { snapshot, chains })));
        found
    }

    /// Runs the preread phase of `route_id`'s plugins, as `snapshot` (the connection's pinned
    /// configuration) has them, for `conn`. `client` is the TCP client socket (peeked by
    /// mqtt-proxy, never read); `None` for UDP.
    pub async fn preread(
        &self,
        snapshot: &Arc<Snapshot>,
        route_id: &str,
        conn: &ConnInfo,
        client: Option<&TcpStream>,
    ) -> Preread {
        let mut session = PluginSession::default();
        let Some(chain) = self.chain_in(snapshot, route_id) else {
            return Preread::Continue(session);
        };
        for plugin in &chain.plugins {
            let vars = StreamVars {
                conn,
                route_id,
                extra: &session.vars,
            };
            let verdict = match plugin {
                Plugin::IpRestriction(p) => p.check(conn.remote.ip()),
                Plugin::LimitConn(p) => match p.acquire(&self.counters, &vars).await {
                    Ok(guard) => {
                        session.guards.push(guard);
                        Ok(())
                    }
                    Err(code) => Err(code),
                },
                Plugin::Mqtt(p) => match client {
                    Some(client) => p.preread(client).await.map(|id| {
                        session.vars.push(("mqtt_client_id".to_owned(), id));
                    }),
                    None => Ok(()),
                },
                Plugin::TrafficSplit(p) => {
                    session.upstream = p.choose(&vars);
                    Ok(())
                }
            };
            if let Err(code) = verdict {
                tracing::info!(client = %conn.remote, route = %route_id, status = code, "stream plugin rejected the connection");
                return Preread::Reject(code);
            }
        }
        Preread::Continue(session)
    }
}
