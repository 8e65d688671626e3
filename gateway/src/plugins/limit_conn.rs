//! `limit-conn`: concurrent sessions per key (resty.limit.conn semantics). A session counts
//! from preread until its [`LimitGuard`] is dropped (end, kill, error, later rejection).
//! `count ≤ conn` passes; `conn < count ≤ conn + burst` waits `unit_delay × ⌊(count−1)/conn⌋`
//! first; above that the session is refused (503 or `rejected_code`). `unit_delay` starts at
//! `default_conn_delay` and, unless `only_use_default_delay`, moves towards the observed
//! session length on each release. Counters are keyed `<route key>:<conf version>:<value>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::vars::StreamVars;
use async_trait::async_trait;

use super::{ChainContext, PrereadContext, StreamPlugin, SERVICE_UNAVAILABLE};

/// Live session counts by key, shared by every snapshot.
#[derive(Debug, Default)]
pub struct ConnCounters {
    counts: Mutex<HashMap<String, u64>>,
}

impl ConnCounters {
    /// The count under `key` (0 when absent).
    pub fn get(&self, key: &str) -> u64 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    /// Every non-zero counter.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut all: Vec<_> = self.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort();
        all
    }

    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds one under `key` unless that exceeds `limit`; the new count, or `None`.
    fn incoming(&self, key: &str, limit: u64) -> Option<u64> {
        let mut counts = self.lock();
        let count = counts.entry(key.to_owned()).or_insert(0);
        if *count + 1 > limit {
            if *count == 0 {
                counts.remove(key);
            }
            return None;
        }
        *count += 1;
        Some(*count)
    }

    fn leaving(&self, key: &str) {
        let mut counts = self.lock();
        if let Some(count) = counts.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(key);
            }
        }
    }
}

/// A compiled limit-conn conf.
#[derive(Debug)]
pub struct LimitConn {
    conn: u64,
    burst: u64,
    only_default_delay: bool,
    /// Seconds; the estimate of one session's length.
    unit_delay: Arc<Mutex<f64>>,
    key: String,
    combination: bool,
    prefix: String,
    rejected_code: u16,
}

/// Holds one counted session; dropping it releases the count.
#[derive(Debug)]
pub struct LimitGuard {
    counters: Arc<ConnCounters>,
    key: String,
    started: Instant,
    unit_delay: Option<Arc<Mutex<f64>>>,
}

impl Drop for LimitGuard {
    fn drop(&mut self) {
        self.counters.leaving(&self.key);
        if let Some(unit) = &self.unit_delay {
            let mut unit = unit.lock().unwrap_or_else(|e| e.into_inner());
            *unit = (*unit + self.started.elapsed().as_secs_f64()) / 2.0;
        }
    }
}

fn as_u64(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_f64)
        .map(|f| f.max(0.0).floor() as u64)
        .unwrap_or(0)
}

impl LimitConn {
    /// Compiles a validated conf of the route `route_key` at `version` (its mod_revision).
    pub fn compile(conf: &Value, route_key: &str, version: i64) -> LimitConn {
        LimitConn {
            conn: as_u64(conf.get("conn")).max(1),
            burst: as_u64(conf.get("burst")),
            only_default_delay: conf
                .get("only_use_default_delay")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            unit_delay: Arc::new(Mutex::new(
                conf.get("default_conn_delay")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            )),
            key: conf
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("remote_addr")
                .to_owned(),
            combination: conf.get("key_type").and_then(Value::as_str) == Some("var_combination"),
            prefix: format!("{route_key}:{version}"),
            rejected_code: conf
                .get("rejected_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(SERVICE_UNAVAILABLE),
        }
    }

    /// The counter key of a session.
    pub fn key_for(&self, vars: &StreamVars<'_>) -> String {
        let value = if self.combination {
            vars.resolve(&self.key)
        } else {
            vars.get(&self.key).unwrap_or_default()
        };
        let value = if value.is_empty() {
            tracing::warn!(key = %self.key, "limit-conn key is empty, using remote_addr");
            vars.get("remote_addr").unwrap_or_default()
        } else {
            value
        };
        format!("{}:{value}", self.prefix)
    }

    /// Counts the session (waiting first when in the burst) or refuses it.
    pub async fn acquire(
        &self,
        counters: &Arc<ConnCounters>,
        vars: &StreamVars<'_>,
    ) -> Result<LimitGuard, u16> {
        let key = self.key_for(vars);
        let Some(count) = counters.incoming(&key, self.conn + self.burst) else {
            return Err(self.rejected_code);
        };
        let guard = LimitGuard {
            counters: counters.clone(),
            key,
            started: Instant::now(),
            unit_delay: (!self.only_default_delay).then(|| self.unit_delay.clone()),
        };
        if count > self.conn {
            let unit = *self.unit_delay.lock().unwrap_or_else(|e| e.into_inner());
            let delay = unit * ((count - 1) / self.conn) as f64;
            if let Ok(delay) = Duration::try_from_secs_f64(delay) {
                tokio::time::sleep(delay).await;
            }
        }
        Ok(guard)
    }
}

/// limit-conn as a stream plugin: the compiled conf and the counters it shares with every
/// snapshot.
#[derive(Debug)]
struct LimitConnPlugin {
    limit: LimitConn,
    counters: Arc<ConnCounters>,
}

/// Builds the plugin for the [registry](super::registry).
pub fn build(conf: &Value, cx: &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>> {
    Some(Arc::new(LimitConnPlugin {
        limit: LimitConn::compile(conf, &cx.route_key(), cx.mod_revision),
        counters: cx.state.counters.clone(),
    }))
}

#[async_trait]
impl StreamPlugin for LimitConnPlugin {
    async fn preread(&self, cx: &mut PrereadContext<'_>) -> Result<(), u16> {
        let guard = self.limit.acquire(&self.counters, &cx.vars()).await?;
        cx.session.guards.push(guard);
        Ok(())
    }
}
