//! The hickory client built from [`DnsSettings`]: servers from `apisix.dns_resolver` (UDP,
//! TCP for truncated answers) or from `/etc/resolv.conf`, whose search domains and `ndots`
//! apply either way; `/etc/hosts` first. One lookup asks A and AAAA in parallel and returns
//! the addresses with the TTL to apply.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::TokioResolver;

use super::{DnsSettings, MIN_TTL};

/// Where the system resolver is asked when `/etc/resolv.conf` names no server (glibc's rule).
const FALLBACK_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);
/// Tries per query before it fails (each waits `query_timeout`).
const QUERY_ATTEMPTS: usize = 2;
/// How long an NXDOMAIN or empty answer may be reused by the client's own cache.
const NEGATIVE_CACHE: Duration = Duration::from_secs(30);

/// Why a lookup failed; the `reason` label of the failure metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// The name does not exist (`NXDOMAIN`).
    NxDomain,
    /// The name exists but has no A or AAAA record.
    NoRecords,
    /// No server answered in time.
    Timeout,
    /// Anything else: a refused or failed query, no usable server, a malformed name.
    Error,
}

impl FailureKind {
    /// The label value: `nxdomain`, `no_records`, `timeout` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NxDomain => "nxdomain",
            FailureKind::NoRecords => "no_records",
            FailureKind::Timeout => "timeout",
            FailureKind::Error => "error",
        }
    }

    fn of(error: &NetError) -> Self {
        if error.is_nx_domain() {
            FailureKind::NxDomain
        } else if error.is_no_records_found() {
            FailureKind::NoRecords
        } else if matches!(error, NetError::Timeout) {
            FailureKind::Timeout
        } else {
            FailureKind::Error
        }
    }
}

/// A failed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LookupFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl LookupFailure {
    /// The kind of `error`, and a short text for logs and the Control API (hickory's own for
    /// timeouts and other errors).
    fn of(error: &NetError) -> Self {
        let kind = FailureKind::of(error);
        let message = match kind {
            FailureKind::NxDomain => "the name does not exist".to_owned(),
            FailureKind::NoRecords => NO_RECORDS.to_owned(),
            FailureKind::Timeout | FailureKind::Error => error.to_string(),
        };
        LookupFailure { kind, message }
    }
}

const NO_RECORDS: &str = "no A or AAAA record";

/// A good answer: the addresses (A records first) and how long to use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resolved {
    pub addrs: Arc<[IpAddr]>,
    pub ttl: Duration,
}

/// The resolver, or why it could not be built.
pub(super) struct Client {
    resolver: Result<TokioResolver, String>,
    max_ttl: Option<Duration>,
}

impl Client {
    pub fn new(settings: &DnsSettings) -> Client {
        Client {
            resolver: build(settings),
            max_ttl: settings.max_ttl,
        }
    }

    /// Looks `host` up (A and AAAA); the TTL is the shortest record TTL, capped by
    /// `max_ttl`, at least [`MIN_TTL`].
    pub async fn lookup(&self, host: &str) -> Result<Resolved, LookupFailure> {
        let resolver = self.resolver.as_ref().map_err(|message| LookupFailure {
            kind: FailureKind::Error,
            message: message.clone(),
        })?;
        let answer = resolver
            .lookup_ip(host)
            .await
            .map_err(|e| LookupFailure::of(&e))?;
        let addrs: Arc<[IpAddr]> = answer.iter().collect();
        if addrs.is_empty() {
            return Err(LookupFailure {
                kind: FailureKind::NoRecords,
                message: NO_RECORDS.to_owned(),
            });
        }
        // Whole seconds, as the records carry them (the deadline is a little closer by now).
        let left = answer
            .valid_until()
            .saturating_duration_since(Instant::now());
        let record_ttl = Duration::from_secs(left.as_secs_f64().round() as u64);
        let capped = self.max_ttl.map_or(record_ttl, |max| record_ttl.min(max));
        Ok(Resolved {
            addrs,
            ttl: capped.max(MIN_TTL),
        })
    }
}

/// The resolver for `settings`: `/etc/resolv.conf` for search domains and options, its
/// servers replaced by `settings.servers` when given.
fn build(settings: &DnsSettings) -> Result<TokioResolver, String> {
    let (system, mut options) = match hickory_resolver::system_conf::read_system_conf() {
        Ok((config, options)) => (Some(config), options),
        Err(error) => {
            if settings.servers.is_empty() {
                tracing::warn!(%error, server = %FALLBACK_SERVER, "cannot read the DNS servers of /etc/resolv.conf; asking the local server");
            }
            (None, ResolverOpts::default())
        }
    };
    let (domain, search, system_servers) = match system {
        Some(config) => config.into_parts(),
        None => (None, Vec::new(), Vec::new()),
    };
    let servers = if !settings.servers.is_empty() {
        settings.servers.iter().map(|addr| server(*addr)).collect()
    } else if system_servers.is_empty() {
        vec![server(FALLBACK_SERVER)]
    } else {
        system_servers
    };
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = settings.query_timeout;
    options.attempts = QUERY_ATTEMPTS;
    options.use_hosts_file = ResolveHosts::Always;
    // The client's own cache never outlives our TTL, so a refresh asks the server again.
    options.positive_max_ttl = settings.max_ttl;
    options.negative_max_ttl = Some(NEGATIVE_CACHE);
    TokioResolver::builder_with_config(
        ResolverConfig::from_parts(domain, search, servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

/// A server at `addr` over UDP, and TCP for truncated answers.
fn server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}
