//! `traffic-split`: the first rule whose `match` holds (any entry's `vars`; no `match` = every
//! connection) picks one of its `weighted_upstreams` by smooth weighted round robin. An entry
//! with `upstream_id` uses that upstream object, one with `upstream` an inline upstream
//! compiled with the snapshot, and one with neither the route's own upstream.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::expr::Expr;
use super::vars::StreamVars;
use crate::balancer::UpstreamRuntime;
use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{ChainContext, PrereadContext, StreamPlugin};

#[derive(Debug)]
struct Rule {
    /// Any of these must hold; empty: always.
    matches: Vec<Expr>,
    /// Targets (`None`: the route's upstream) and weights.
    targets: Vec<(Option<Arc<UpstreamRuntime>>, i64)>,
    /// Smooth weighted round-robin state, one per target.
    current: Mutex<Vec<i64>>,
}

/// A compiled traffic-split conf.
#[derive(Debug)]
pub struct TrafficSplit {
    rules: Vec<Rule>,
}

impl TrafficSplit {
    /// Compiles a validated conf of route `route_key` against the snapshot's `upstreams`.
    pub fn compile(
        conf: &Value,
        route_key: &str,
        upstreams: &BTreeMap<String, Arc<UpstreamRuntime>>,
        route_upstream: Option<Arc<UpstreamRuntime>>,
        dns: &crate::dns::Dns,
    ) -> TrafficSplit {
        let mut rules = Vec::new();
        let empty = Vec::new();
        let list = conf
            .get("rules")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        for (r, rule) in list.iter().enumerate() {
            let matches = rule
                .get("match")
                .and_then(Value::as_array)
                .map(|m| m.iter().map(|e| Expr::compile(e.get("vars"))).collect())
                .unwrap_or_default();
            let mut targets = Vec::new();
            let ups = rule.get("weighted_upstreams").and_then(Value::as_array);
            for (i, entry) in ups.into_iter().flatten().enumerate() {
                let weight = entry.get("weight").and_then(Value::as_i64).unwrap_or(1);
                let target = if let Some(id) = entry.get("upstream_id") {
                    let id = match id {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    match upstreams.get(&id) {
                        Some(up) => Some(up.clone()),
                        None => {
                            tracing::warn!(route = %route_key, upstream_id = %id, "traffic-split: upstream not found, entry skipped");
                            continue;
                        }
                    }
                } else if let Some(inline) = entry.get("upstream") {
                    match serde_json::from_value::<model::types::Upstream>(inline.clone()) {
                        Ok(up) => Some(Arc::new(UpstreamRuntime::compile_with(
                            format!("{route_key}/traffic-split/{r}/{i}"),
                            &up,
                            dns,
                        ))),
                        Err(e) => {
                            tracing::warn!(route = %route_key, error = %e, "traffic-split: bad inline upstream, entry skipped");
                            continue;
                        }
                    }
                } else {
                    route_upstream.clone()
                };
                if weight > 0 {
                    targets.push((target, weight));
                }
            }
            let n = targets.len();
            rules.push(Rule {
                matches,
                targets,
                current: Mutex::new(vec![0; n]),
            });
        }
        TrafficSplit { rules }
    }

    /// The upstream for this connection; `None`: keep the route's.
    pub fn choose(&self, vars: &StreamVars<'_>) -> Option<Arc<UpstreamRuntime>> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.matches.is_empty() || r.matches.iter().any(|m| m.eval(vars)))?;
        if rule.targets.is_empty() {
            return None;
        }
        let mut current = rule.current.lock().unwrap_or_else(|e| e.into_inner());
        let total: i64 = rule.targets.iter().map(|t| t.1).sum();
        let mut best = 0;
        for (i, (_, weight)) in rule.targets.iter().enumerate() {
            current[i] += weight;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        rule.targets[best].0.clone()
    }
}

/// Builds the plugin for the [registry](super::registry).
pub fn build(conf: &Value, cx: &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>> {
    Some(Arc::new(TrafficSplit::compile(
        conf,
        &cx.route_key(),
        cx.upstreams,
        cx.route_upstream.clone(),
        cx.dns,
    )))
}

#[async_trait]
impl StreamPlugin for TrafficSplit {
    async fn preread(&self, cx: &mut PrereadContext<'_>) -> Result<(), u16> {
        cx.session.upstream = self.choose(&cx.vars());
        Ok(())
    }
}
