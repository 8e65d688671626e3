//! Store items → [`Snapshot`]: pick the objects under `<prefix>/<dir>/<id>`, validate each with
//! `model::validate::check_stored`, deserialize, merge services into routes, resolve upstreams,
//! and order routes by creation. Balancer runtimes whose upstream configuration is unchanged
//! are taken over from the previous snapshot so their counters and health survive.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use model::types::{Service, Ssl, StreamRoute, Upstream};
use model::{CheckContext, ResourceKind};

use super::Snapshot;
use crate::balancer::UpstreamRuntime;
use crate::dns::Dns;
use crate::plugins::{Chain, ChainContext, PluginState};
use crate::route::{ResolvedRoute, MISSING_UPSTREAM};
use crate::router::RouteTable;
use crate::store::KeyValue;
use crate::tls::certs::CertIndex;

/// One accepted object: its id and store entry.
struct Item<'a> {
    id: &'a str,
    kv: &'a KeyValue,
}

/// Settings of the gateway (not of the stored objects) that shape a snapshot.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The DNS client that keeps node names resolved (`apisix.dns_resolver*`); `None`: the
    /// previous snapshot's, or a new one with the system's servers.
    pub dns: Option<Dns>,
    /// Whether upstream `checks` are honoured (false: `apisix.disable_upstream_healthcheck`).
    pub health_checks: bool,
    /// The stream plugins' shared state; `None`: the previous snapshot's, or a new one.
    pub plugin_state: Option<Arc<PluginState>>,
    /// `apisix.data_encryption.keyring` (empty when `enable_encrypt_fields` is off), which
    /// decrypts the SSL objects' keys.
    pub keyring: Vec<String>,
}

impl CompileOptions {
    /// The options `config` asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        CompileOptions {
            dns: Some(Dns::new(config.dns.clone())),
            health_checks: !config.disable_upstream_healthcheck,
            plugin_state: None,
            keyring: config.ssl.keyring.clone(),
        }
    }
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            dns: None,
            health_checks: true,
            plugin_state: None,
            keyring: Vec::new(),
        }
    }
}

/// Builds a snapshot from the store's `items` under `prefix` (e.g. `/apisix`).
///
/// Invalid objects are logged (`tracing::warn`, with key and reason) and skipped; other
/// directories and non-object placeholders (`"init_dir"`) are ignored. `revision` is the
/// highest `mod_revision` among the items; the watcher overwrites it with the watch revision.
pub fn compile(
    items: &[KeyValue],
    prefix: &str,
    ctx: &CheckContext,
    previous: Option<&Snapshot>,
) -> Snapshot {
    compile_with(items, prefix, ctx, &CompileOptions::default(), previous)
}

/// [`compile`] with gateway settings.
pub fn compile_with(
    items: &[KeyValue],
    prefix: &str,
    ctx: &CheckContext,
    options: &CompileOptions,
    previous: Option<&Snapshot>,
) -> Snapshot {
    let by_kind = select(items, prefix, ctx);
    let take = |kind| by_kind.get(&kind).map(Vec::as_slice).unwrap_or(&[]);
    let dns = options
        .dns
        .clone()
        .or_else(|| previous.map(|p| p.dns.clone()))
        .unwrap_or_default();
    let mut runtimes = Runtimes {
        previous,
        health_checks: options.health_checks,
        dns: &dns,
        built: BTreeMap::new(),
    };

    let mut upstreams = BTreeMap::new();
    for item in take(ResourceKind::Upstreams) {
        if let Some(up) = parse::<Upstream>(item) {
            let rt = runtimes.get(format!("upstreams/{}", item.id), &up);
            upstreams.insert(item.id.to_owned(), rt);
        }
    }
    let mut services = BTreeMap::new();
    let mut service_runtimes = BTreeMap::new();
    for item in take(ResourceKind::Services) {
        if let Some(svc) = parse::<Service>(item) {
            if let Some(up) = &svc.upstream {
                let rt = runtimes.get(format!("services/{}", item.id), up);
                service_runtimes.insert(item.id.to_owned(), rt);
            }
            services.insert(item.id.to_owned(), svc);
        }
    }
    let plugin_metadata: Arc<BTreeMap<String, serde_json::Value>> = Arc::new(
        take(ResourceKind::PluginMetadata)
            .iter()
            .map(|item| (item.id.to_owned(), item.kv.value.clone()))
            .collect(),
    );
    let plugin_state = options
        .plugin_state
        .clone()
        .or_else(|| previous.map(|p| p.plugin_state.clone()))
        .unwrap_or_default();
    let lookup = Lookup {
        upstreams: &upstreams,
        services: &services,
        service_runtimes: &service_runtimes,
        enabled_plugins: &ctx.stream_plugins,
        plugin_metadata: &plugin_metadata,
        plugin_state: &plugin_state,
        dns: &dns,
    };
    let routes = compile_routes(take(ResourceKind::StreamRoutes), &lookup, &mut runtimes);

    let ssls: BTreeMap<String, Ssl> = take(ResourceKind::Ssls)
        .iter()
        .filter_map(|item| Some((item.id.to_owned(), parse::<Ssl>(item)?)))
        .collect();
    let cert_index = match previous {
        Some(p) if p.ssls == ssls && p.cert_index.keyring() == options.keyring.as_slice() => {
            p.cert_index.clone()
        }
        _ => Arc::new(CertIndex::build(&ssls, &options.keyring)),
    };
    Snapshot {
        revision: items.iter().map(|kv| kv.mod_revision).max().unwrap_or(0),
        route_map: routes.iter().map(|r| (r.id.clone(), r.clone())).collect(),
        routes: RouteTable::new(routes),
        upstreams,
        runtimes: runtimes.built,
        services,
        ssls,
        cert_index,
        plugin_metadata,
        plugin_state,
        dns,
    }
}

/// The valid objects under `prefix`, by kind.
fn select<'a>(
    items: &'a [KeyValue],
    prefix: &str,
    ctx: &CheckContext,
) -> BTreeMap<ResourceKind, Vec<Item<'a>>> {
    let root = format!("{}/", prefix.trim_end_matches('/'));
    let mut by_kind: BTreeMap<ResourceKind, Vec<Item<'a>>> = BTreeMap::new();
    for kv in items {
        let Some((kind, id)) = classify(&kv.key, &root) else {
            continue;
        };
        if !kv.value.is_object() {
            tracing::debug!(key = %kv.key, "ignoring non-object value");
            continue;
        }
        if let Err(err) = model::validate::check_stored(kind, id, &kv.value, ctx) {
            tracing::warn!(key = %kv.key, reason = %err, "skipping invalid stored object");
            continue;
        }
        by_kind.entry(kind).or_default().push(Item { id, kv });
    }
    by_kind
}

/// Resolves every route and orders them by creation (`create_revision`, then id).
fn compile_routes(
    items: &[Item<'_>],
    lookup: &Lookup<'_>,
    runtimes: &mut Runtimes<'_>,
) -> Vec<Arc<ResolvedRoute>> {
    let mut routes = Vec::with_capacity(items.len());
    for item in items {
        let Some(route) = parse::<StreamRoute>(item) else {
            continue;
        };
        // The route's inline upstream (unless `upstream_id` wins) also beats the service's.
        let inline_rt = route
            .upstream
            .as_ref()
            .filter(|_| route.upstream_id.is_none())
            .map(|up| runtimes.get(format!("stream_routes/{}", item.id), up));
        routes.push(lookup.resolve(item, route, inline_rt));
    }
    routes.sort_by(|a, b| (a.create_revision, &a.id).cmp(&(b.create_revision, &b.id)));
    routes.into_iter().map(Arc::new).collect()
}

/// Balancer runtimes of the snapshot being built, reusing the previous snapshot's when the
/// upstream configuration under the same key is unchanged.
struct Runtimes<'p> {
    previous: Option<&'p Snapshot>,
    health_checks: bool,
    dns: &'p Dns,
    built: BTreeMap<String, Arc<UpstreamRuntime>>,
}

impl Runtimes<'_> {
    fn get(&mut self, key: String, up: &Upstream) -> Arc<UpstreamRuntime> {
        let (dns, checks) = (self.dns, self.health_checks);
        let rt = self
            .previous
            .and_then(|p| p.runtimes.get(&key))
            .filter(|rt| rt.config == *up && rt.dns().same(dns))
            .filter(|rt| rt.health_checked() == (checks && up.checks.is_some()))
            .cloned()
            .unwrap_or_else(|| {
                let rt = UpstreamRuntime::compile_with(key.clone(), up, dns);
                Arc::new(if checks {
                    rt
                } else {
                    rt.without_health_checks()
                })
            });
        self.built.insert(key, rt.clone());
        rt
    }
}

/// `<root><dir>/<id>` → the kind and id; `None` for other keys.
fn classify<'k>(key: &'k str, root: &str) -> Option<(ResourceKind, &'k str)> {
    let (dir, id) = key.strip_prefix(root)?.split_once('/')?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some((ResourceKind::from_dir(dir)?, id))
}

/// Deserializes a validated object, logging failures.
fn parse<T: DeserializeOwned>(item: &Item<'_>) -> Option<T> {
    match serde_json::from_value::<T>(item.kv.value.clone()) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(key = %item.kv.key, reason = %err, "skipping undecodable stored object");
            None
        }
    }
}

/// What a route may refer to.
struct Lookup<'a> {
    upstreams: &'a BTreeMap<String, Arc<UpstreamRuntime>>,
    services: &'a BTreeMap<String, Service>,
    service_runtimes: &'a BTreeMap<String, Arc<UpstreamRuntime>>,
    /// `stream_plugins` of config.yaml: only these are compiled into chains.
    enabled_plugins: &'a [String],
    plugin_metadata: &'a BTreeMap<String, serde_json::Value>,
    plugin_state: &'a Arc<PluginState>,
    dns: &'a Dns,
}

impl Lookup<'_> {
    /// Merges the service and resolves the upstream: route `upstream_id`, route `upstream`,
    /// service `upstream_id`, service `upstream`, in that order.
    fn resolve(
        &self,
        item: &Item<'_>,
        route: StreamRoute,
        inline_rt: Option<Arc<UpstreamRuntime>>,
    ) -> ResolvedRoute {
        let mut plugins = route.plugins.clone();
        let upstream = match &route.service_id {
            Some(sid) => match self.services.get(sid) {
                None => Err(format!(
                    "failed to fetch service configuration by id: {sid}"
                )),
                Some(svc) => {
                    for (name, conf) in &svc.plugins {
                        plugins.entry(name.clone()).or_insert_with(|| conf.clone());
                    }
                    self.route_upstream(&route, inline_rt).unwrap_or_else(|| {
                        match &svc.upstream_id {
                            Some(uid) => self.by_id(uid),
                            None => self
                                .service_runtimes
                                .get(sid)
                                .cloned()
                                .ok_or_else(|| MISSING_UPSTREAM.to_owned()),
                        }
                    })
                }
            },
            None => self
                .route_upstream(&route, inline_rt)
                .unwrap_or_else(|| Err(MISSING_UPSTREAM.to_owned())),
        };
        let (upstream, upstream_error) = match upstream {
            Ok(rt) => (Some(rt), None),
            Err(reason) => {
                tracing::debug!(key = %item.kv.key, %reason, "stream route has no upstream");
                (None, Some(reason))
            }
        };
        let chain = Chain::compile(
            &plugins,
            &ChainContext {
                route_id: item.id,
                mod_revision: item.kv.mod_revision,
                service_id: route.service_id.as_deref(),
                route_upstream: upstream.clone(),
                upstreams: self.upstreams,
                plugin_metadata: self.plugin_metadata,
                enabled: self.enabled_plugins,
                state: self.plugin_state,
                dns: self.dns,
            },
        );
        ResolvedRoute {
            id: item.id.to_owned(),
            metric_label: ResolvedRoute::metric_label_of(item.id, route.name.as_deref(), &plugins),
            name: route.name.clone(),
            route,
            upstream,
            upstream_error,
            plugins,
            create_revision: item.kv.create_revision,
            mod_revision: item.kv.mod_revision,
            chain: Arc::new(chain),
        }
    }

    /// The route's own upstream, if it sets one.
    fn route_upstream(
        &self,
        route: &StreamRoute,
        inline_rt: Option<Arc<UpstreamRuntime>>,
    ) -> Option<Result<Arc<UpstreamRuntime>, String>> {
        match &route.upstream_id {
            Some(uid) => Some(self.by_id(uid)),
            None => inline_rt.map(Ok),
        }
    }

    fn by_id(&self, uid: &str) -> Result<Arc<UpstreamRuntime>, String> {
        self.upstreams
            .get(uid)
            .cloned()
            .ok_or_else(|| format!("failed to find upstream by id: {uid}"))
    }
}
