//! Live connections (TCP) and sessions (UDP): who, where, since when, how many bytes, and a
//! kill switch for each.
//!
//! A connection registers once routed and deregisters when its task ends (the
//! [`Registration`] guard). The map is sharded by id and a shard's mutex is held only to
//! insert, remove or copy the list, never on the byte path: the relay adds to the handle's
//! atomic counters directly. Shutdown uses [`ConnectionRegistry::wait_empty`] to drain and
//! [`ConnectionRegistry::kill_all`] to cut what is left.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::conn::Transport;
use crate::proxy::source::Routed;
use crate::session::routestats::RouteStats;

const SHARDS: usize = 16;

/// What the listener's front learned about a TCP connection before routing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontInfo {
    /// TLS was terminated by the gateway (`tls: true` listener).
    pub tls: bool,
    /// The SNI the client sent (terminated or peeked by `sni_preread`), lowercase.
    pub sni: Option<String>,
}

/// One live connection or UDP session.
#[derive(Debug)]
pub struct ConnectionHandle {
    /// Unique within the process, increasing.
    pub id: u64,
    /// Its route, upstream, transport and addresses.
    pub routed: RoutedConnection,
    /// Wall-clock start, for display.
    pub started_at: SystemTime,
    started: Instant,
    node: OnceLock<SocketAddr>,
    front: OnceLock<FrontInfo>,
    /// Bytes from the client to the upstream.
    bytes_up: AtomicU64,
    /// Bytes from the upstream to the client.
    bytes_down: AtomicU64,
    /// Milliseconds after `started` of the last byte relayed either way.
    last_ms: AtomicU64,
    /// The route's live stats, fed as bytes flow (set once routed).
    route_stats: OnceLock<Arc<RouteStats>>,
    cancel: CancellationToken,
}

impl ConnectionHandle {
    /// The upstream node address, once connected.
    pub fn node(&self) -> Option<SocketAddr> {
        self.node.get().copied()
    }

    /// Records the upstream node (first call wins).
    pub fn set_node(&self, addr: SocketAddr) {
        let _ = self.node.set(addr);
    }

    /// What the front learned (TLS, SNI), once set.
    pub fn front(&self) -> Option<&FrontInfo> {
        self.front.get()
    }

    /// Records what the front learned (first call wins).
    pub fn set_front(&self, info: FrontInfo) {
        let _ = self.front.set(info);
    }

    /// Bytes relayed from the client to the upstream so far.
    pub fn bytes_up(&self) -> u64 {
        self.bytes_up.load(Ordering::Relaxed)
    }

    /// Bytes relayed from the upstream to the client so far.
    pub fn bytes_down(&self) -> u64 {
        self.bytes_down.load(Ordering::Relaxed)
    }

    /// Adds to the client→upstream count.
    pub fn add_up(&self, n: u64) {
        if let Some(stats) = self.route_stats.get() {
            stats.add_in(n);
        }
        self.bytes_up.fetch_add(n, Ordering::Relaxed);
        self.touch();
    }

    /// Adds to the upstream→client count.
    pub fn add_down(&self, n: u64) {
        if let Some(stats) = self.route_stats.get() {
            stats.add_out(n);
        }
        self.bytes_down.fetch_add(n, Ordering::Relaxed);
        self.touch();
    }

    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Time since the last byte moved either way (since the start when none has).
    pub fn idle(&self) -> Duration {
        self.age()
            .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Feeds this connection's bytes into its route's live stats from now on (first call wins).
    pub fn set_route_stats(&self, stats: Arc<RouteStats>) {
        let _ = self.route_stats.set(stats);
    }

    /// The route stats this connection feeds, once set.
    pub fn route_stats(&self) -> Option<Arc<RouteStats>> {
        self.route_stats.get().cloned()
    }

    /// How long it has been open.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Asks the connection to close both legs now.
    pub fn kill(&self) {
        self.cancel.cancel();
    }

    /// Resolves when the connection was killed.
    pub fn killed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Whether it was killed.
    pub fn is_killed(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A connection the router placed: what a registration needs and the handle keeps.
#[derive(Debug, Clone)]
pub struct RoutedConnection {
    /// The stream route that took it.
    pub route_id: String,
    /// The upstream key (`upstreams/<id>` or `stream_routes/<id>`).
    pub upstream: String,
    pub transport: Transport,
    /// The client address.
    pub client: SocketAddr,
    /// The local (listening) address.
    pub local: SocketAddr,
    /// The address the client reached (`$server_addr:$server_port`): `local`, or on a wildcard
    /// listener the connection's local address / the UDP datagrams' destination.
    pub server: SocketAddr,
}

impl RoutedConnection {
    /// The `transport` connection `routed` took, from `client` on `local`, reaching `server`.
    pub fn new(
        routed: &Routed,
        transport: Transport,
        client: SocketAddr,
        (local, server): (SocketAddr, SocketAddr),
    ) -> Self {
        RoutedConnection {
            route_id: routed.route_id.clone(),
            upstream: routed.upstream.key().to_string(),
            transport,
            client,
            local,
            server,
        }
    }
}

/// Every live connection and session.
#[derive(Debug)]
pub struct ConnectionRegistry {
    shards: Vec<Mutex<HashMap<u64, Arc<ConnectionHandle>>>>,
    next_id: AtomicU64,
    live: AtomicUsize,
    emptied: Notify,
}

impl Default for ConnectionRegistry {
    fn default() -> Self {
        ConnectionRegistry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next_id: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            emptied: Notify::new(),
        }
    }
}

impl ConnectionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Arc<ConnectionHandle>>> {
        &self.shards[(id as usize) % SHARDS]
    }

    /// Registers a connection; it stays listed until the returned guard is dropped.
    pub fn insert(self: &Arc<Self>, routed: RoutedConnection) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ConnectionHandle {
            id,
            routed,
            started_at: SystemTime::now(),
            started: Instant::now(),
            node: OnceLock::new(),
            front: OnceLock::new(),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            route_stats: OnceLock::new(),
            cancel: CancellationToken::new(),
        });
        self.live.fetch_add(1, Ordering::AcqRel);
        self.shard(id)
            .lock()
            .expect("registry shard lock is never poisoned: no panics while held")
            .insert(id, handle.clone());
        Registration {
            registry: self.clone(),
            handle,
        }
    }

    fn remove(&self, id: u64) {
        let removed = self
            .shard(id)
            .lock()
            .expect("registry shard lock is never poisoned: no panics while held")
            .remove(&id);
        if removed.is_some() && self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.emptied.notify_waiters();
        }
    }

    /// The connection with `id`, if live.
    pub fn get(&self, id: u64) -> Option<Arc<ConnectionHandle>> {
        self.shard(id)
            .lock()
            .expect("registry shard lock is never poisoned: no panics while held")
            .get(&id)
            .cloned()
    }

    /// Every live connection, by id.
    pub fn list(&self) -> Vec<Arc<ConnectionHandle>> {
        let mut all: Vec<Arc<ConnectionHandle>> = Vec::with_capacity(self.len());
        for shard in &self.shards {
            all.extend(
                shard
                    .lock()
                    .expect("registry shard lock is never poisoned: no panics while held")
                    .values()
                    .cloned(),
            );
        }
        all.sort_by_key(|h| h.id);
        all
    }

    /// Kills connection `id`; `false` if there is no such live connection.
    pub fn kill(&self, id: u64) -> bool {
        match self.get(id) {
            Some(handle) => {
                handle.kill();
                true
            }
            None => false,
        }
    }

    /// Kills every live connection; returns how many were asked to close.
    pub fn kill_all(&self) -> usize {
        let all = self.list();
        for handle in &all {
            handle.kill();
        }
        all.len()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Whether nothing is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until no connection is live, at most `timeout`; `true` if it emptied.
    pub async fn wait_empty(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.emptied.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Keeps a connection listed; dropping it deregisters the connection.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<ConnectionRegistry>,
    handle: Arc<ConnectionHandle>,
}

impl Registration {
    /// The registered connection.
    pub fn handle(&self) -> &Arc<ConnectionHandle> {
        &self.handle
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(self.handle.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_conn() -> RoutedConnection {
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("literal address");
        RoutedConnection {
            route_id: "1".into(),
            upstream: "stream_routes/1".into(),
            transport: Transport::Tcp,
            client: addr,
            local: addr,
            server: addr,
        }
    }

    #[test]
    fn dropping_the_registration_removes_the_connection() {
        let registry = Arc::new(ConnectionRegistry::new());
        let a = registry.insert(new_conn());
        let b = registry.insert(new_conn());
        assert_eq!(registry.len(), 2);
        assert_eq!(
            registry.list().iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![a.handle().id, b.handle().id]
        );
        let id = a.handle().id;
        drop(a);
        assert_eq!(registry.len(), 1);
        assert!(registry.get(id).is_none());
        assert!(!registry.kill(id));
    }

    #[test]
    fn kill_marks_the_handle() {
        let registry = Arc::new(ConnectionRegistry::new());
        let a = registry.insert(new_conn());
        assert!(registry.kill(a.handle().id));
        assert!(a.handle().is_killed());
    }

    #[tokio::test]
    async fn wait_empty_returns_when_the_last_connection_leaves() {
        let registry = Arc::new(ConnectionRegistry::new());
        let a = registry.insert(new_conn());
        assert!(!registry.wait_empty(Duration::from_millis(20)).await);
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.wait_empty(Duration::from_secs(5)).await })
        };
        drop(a);
        assert!(waiter.await.expect("waiter task"));
    }
}
