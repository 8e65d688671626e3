//! Upstream node names kept resolved: the gateway's one DNS client (hickory-resolver), one
//! record per name that connections read without waiting, and the failure counts the
//! metrics export.
//!
//! Flow: compiling a snapshot registers every node host that is a name ([`Dns::track`]) →
//! the first registration of a name starts its refresher on the runtime the [`Dns`] was made
//! on ([`refresh`]) → the refresher looks the name up (A and AAAA, [`resolver`]) and stores the
//! answer with its TTL (the record TTL, at most `apisix.dns_resolver_valid`, at least
//! [`MIN_TTL`]) in the [`TrackedName`] → it sleeps until that TTL runs out and looks again.
//! Connections read the stored answer ([`TrackedName::addresses`]); only a connection that
//! arrives before a new name's first answer waits for it. A failed lookup keeps the last good
//! answer until [`DnsSettings::grace`] after it expired, is logged, counted
//! ([`Dns::failure_counts`]) and retried with backoff; a name with no usable answer makes its
//! nodes unavailable to the balancer. When the last runtime holding a name is dropped, its
//! refresher stops. Existing connections never look at DNS again.
//!
//! Layout: [`name`] the per-name state that connections, the balancer and the Control API
//! read; [`refresh`] the background loop; [`resolver`] the hickory client built from the
//! settings (`apisix.dns_resolver` or `/etc/resolv.conf`).

mod name;
mod refresh;
mod resolver;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

pub use name::{NameStatus, TrackedName};
pub use resolver::FailureKind;

/// The shortest TTL applied to an answer (a record TTL of 0 or a `dns_resolver_valid` of 0
/// would otherwise ask the server in a loop).
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// How long the last good answer is still used after it expired while lookups fail.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);
/// `apisix.resolver_timeout` when unset (APISIX's default).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The DNS servers (`apisix.dns_resolver`); empty: the nameservers of `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
    /// The upper bound of an answer's TTL (`apisix.dns_resolver_valid`); `None`: the record TTL.
    pub max_ttl: Option<Duration>,
    /// How long one query waits for an answer (`apisix.resolver_timeout`).
    pub query_timeout: Duration,
    /// How long the last good answer outlives its TTL while lookups fail.
    pub grace: Duration,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            servers: Vec::new(),
            max_ttl: None,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            grace: DEFAULT_GRACE,
        }
    }
}

/// The gateway's DNS client for upstream node names; clones share one state.
#[derive(Clone, Default)]
pub struct Dns {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    settings: DnsSettings,
    /// Built on the first lookup (it reads `/etc/resolv.conf` and `/etc/hosts`).
    client: OnceLock<resolver::Client>,
    /// The names being kept resolved, by host.
    names: Mutex<HashMap<String, Weak<TrackedName>>>,
    /// Failed lookups by (host, reason); never reset.
    failures: Mutex<BTreeMap<(String, FailureKind), u64>>,
    /// Where refreshers run: the runtime that made this client, if any.
    runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Dns {
    /// A client with `settings`; refreshers run on the current tokio runtime (or on the
    /// runtime of the first connection that needs a name, when made outside one).
    pub fn new(settings: DnsSettings) -> Dns {
        Dns {
            inner: Arc::new(Inner {
                settings,
                runtime: tokio::runtime::Handle::try_current().ok(),
                ..Inner::default()
            }),
        }
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &DnsSettings {
        &self.inner.settings
    }

    /// Whether `self` and `other` are the same client (not merely equal settings).
    pub fn same(&self, other: &Dns) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether a node host is a name to resolve (not an IPv4 or IPv6 literal, bracketed or not).
    pub fn is_name(host: &str) -> bool {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_err()
    }

    /// The record of `host`, shared with every other holder of the same name; the first
    /// holder starts its refresher. The name stays resolved while a holder keeps it.
    pub fn track(&self, host: &str) -> Arc<TrackedName> {
        let mut names = self
            .inner
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = names.get(host).and_then(Weak::upgrade) {
            return live;
        }
        names.retain(|_, weak| weak.strong_count() > 0);
        let tracked = Arc::new(TrackedName::new(host, self.clone()));
        names.insert(host.to_owned(), Arc::downgrade(&tracked));
        drop(names);
        self.start_refresher(&tracked);
        tracked
    }

    /// Starts the refresher of `name` once, on this client's runtime (or the caller's).
    fn start_refresher(&self, name: &Arc<TrackedName>) {
        let Some(runtime) = self.runtime() else {
            return;
        };
        if name.claim_refresher() {
            runtime.spawn(refresh::run(
                Arc::downgrade(name),
                self.clone(),
                name.stop_token(),
            ));
        }
    }

    /// Failed lookups so far as `(host, reason, count)`, by host then reason.
    pub fn failure_counts(&self) -> Vec<(String, FailureKind, u64)> {
        let failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        failures
            .iter()
            .map(|((host, kind), n)| (host.clone(), *kind, *n))
            .collect()
    }

    fn count_failure(&self, host: &str, kind: FailureKind) {
        let mut failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *failures.entry((host.to_owned(), kind)).or_default() += 1;
    }

    fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.inner
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
    }

    fn client(&self) -> &resolver::Client {
        self.inner
            .client
            .get_or_init(|| resolver::Client::new(&self.inner.settings))
    }
}
