//! Node address resolution: IP literals directly, host names through the system resolver
//! (`tokio::net::lookup_host`) with a small TTL cache. Failed lookups are not cached.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::NodeAddr;

/// How long a lookup is reused unless configured otherwise.
pub const DEFAULT_DNS_TTL: Duration = Duration::from_secs(30);

/// Cached lookups by `(host, port)`.
#[derive(Debug)]
pub(super) struct DnsCache {
    pub(super) ttl: Duration,
    entries: Mutex<HashMap<NodeAddr, (Instant, Vec<SocketAddr>)>>,
}

impl Default for DnsCache {
    fn default() -> Self {
        DnsCache::new(DEFAULT_DNS_TTL)
    }
}

impl DnsCache {
    pub(super) fn new(ttl: Duration) -> Self {
        DnsCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The socket addresses of `node`.
    pub(super) async fn resolve(&self, node: &NodeAddr) -> io::Result<Vec<SocketAddr>> {
        let host = node.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, node.port)]);
        }
        let now = Instant::now();
        if let Some((at, addrs)) = self.lock().get(node) {
            if now.saturating_duration_since(*at) < self.ttl {
                return Ok(addrs.clone());
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, node.port))
            .await
            .map_err(|err| io::Error::new(err.kind(), format!("resolve {host}: {err}")))?
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("resolve {host}: no address"),
            ));
        }
        if !self.ttl.is_zero() {
            self.lock().insert(node.clone(), (now, addrs.clone()));
        }
        Ok(addrs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeAddr, (Instant, Vec<SocketAddr>)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
