//! The stream listening sockets (`apisix.stream_proxy.tcp` / `.udp`) and their reload.
//!
//! Every socket is opened with socket2: `SO_REUSEADDR`, `SO_REUSEPORT`, nonblocking, and for
//! TCP a backlog of 4096. A [`ListenerSet`] owns one accept task per socket; reconciling it
//! against a new configuration opens the added entries, stops the removed ones (the listening
//! socket closes, accepted connections carry on) and leaves unchanged ones running.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::TcpListen;
use crate::proxy::{tcp, udp, ProxyContext};
use crate::runtime::Workers;

/// TCP accept backlog.
pub const BACKLOG: i32 = 4096;

/// A listening socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("failed to listen on {transport} {addr}: {source}")]
pub struct ListenError {
    /// `tcp` or `udp`.
    pub transport: &'static str,
    pub addr: SocketAddr,
    #[source]
    pub source: io::Error,
}

fn reusable_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        // Listen exactly where configured: `[::]` does not also take IPv4.
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket)
}

/// Opens a TCP listening socket on `addr`. Must run inside a tokio runtime.
pub fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    let open = || -> io::Result<TcpListener> {
        let socket = reusable_socket(addr, Type::STREAM, Protocol::TCP)?;
        socket.listen(BACKLOG)?;
        TcpListener::from_std(socket.into())
    };
    open().map_err(|source| ListenError {
        transport: "tcp",
        addr,
        source,
    })
}

/// Opens a nonblocking `SO_REUSEPORT` TCP listening socket on `addr` outside any runtime
/// (a per-core worker registers it with its own).
pub fn bind_std_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = reusable_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Opens a UDP socket on `addr`. Must run inside a tokio runtime.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, ListenError> {
    let open = || -> io::Result<UdpSocket> {
        let socket = reusable_socket(addr, Type::DGRAM, Protocol::UDP)?;
        UdpSocket::from_std(socket.into())
    };
    open().map_err(|source| ListenError {
        transport: "udp",
        addr,
        source,
    })
}

/// One running accept task.
#[derive(Debug)]
struct Running {
    /// The address actually bound (differs from the configured one for port 0).
    local: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    fn stop(&self) {
        self.stop.cancel();
    }
}

/// What a reconcile changed, for the reload log line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReconcileReport {
    pub tcp_added: Vec<SocketAddr>,
    pub tcp_removed: Vec<SocketAddr>,
    pub udp_added: Vec<SocketAddr>,
    pub udp_removed: Vec<SocketAddr>,
}

impl ReconcileReport {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.tcp_added.is_empty()
            && self.tcp_removed.is_empty()
            && self.udp_added.is_empty()
            && self.udp_removed.is_empty()
    }
}

/// The running stream listeners.
#[derive(Debug)]
pub struct ListenerSet {
    ctx: Arc<ProxyContext>,
    /// The per-core workers to run accept loops on (none: the current runtime).
    workers: Workers,
    tcp: Vec<(TcpListen, Running)>,
    udp: Vec<(SocketAddr, Running)>,
    udp_max_sessions: usize,
}

impl ListenerSet {
    /// An empty set serving connections with `ctx`.
    pub fn new(ctx: Arc<ProxyContext>) -> Self {
        ListenerSet {
            ctx,
            workers: Workers::default(),
            tcp: Vec::new(),
            udp: Vec::new(),
            udp_max_sessions: udp::DEFAULT_MAX_SESSIONS,
        }
    }

    /// Runs the listeners opened from now on on the per-core `workers`.
    pub fn with_workers(mut self, workers: Workers) -> Self {
        self.workers = workers;
        self
    }

    /// Caps the session table of UDP listeners opened from now on.
    pub fn with_udp_max_sessions(mut self, max: usize) -> Self {
        self.udp_max_sessions = max;
        self
    }

    /// Makes the running listeners match `tcp` and `udp`. Every added socket is bound before
    /// anything changes: on a bind failure nothing is changed and the error is returned.
    /// Returns once the removed listening sockets are closed.
    pub async fn reconcile(
        &mut self,
        tcp: &[TcpListen],
        udp: &[SocketAddr],
    ) -> Result<ReconcileReport, ListenError> {
        let tcp_new: Vec<&TcpListen> = tcp
            .iter()
            .filter(|want| !self.tcp.iter().any(|(have, _)| have == *want))
            .collect();
        let udp_new: Vec<&SocketAddr> = udp
            .iter()
            .filter(|want| !self.udp.iter().any(|(have, _)| have == *want))
            .collect();
        // Bind everything first so a failure leaves the running set untouched (the sockets
        // bound so far are dropped, i.e. closed).
        let mut tcp_bound = Vec::with_capacity(tcp_new.len());
        for entry in tcp_new {
            tcp_bound.push((entry.clone(), bind_tcp(entry.addr)?));
        }
        let mut udp_bound = Vec::with_capacity(udp_new.len());
        for addr in udp_new {
            udp_bound.push((*addr, bind_udp(*addr)?));
        }

        let mut report = ReconcileReport::default();
        // Stop removed listeners (after binding the new ones: with SO_REUSEPORT a changed
        // entry on the same port has no gap).
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.tcp)
            .into_iter()
            .partition(|(have, _)| tcp.contains(have));
        self.tcp = keep;
        let mut stopped = Vec::new();
        for (_, running) in gone {
            running.stop();
            report.tcp_removed.push(running.local);
            stopped.push(running.task);
        }
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.udp)
            .into_iter()
            .partition(|(have, _)| udp.contains(have));
        self.udp = keep;
        for (_, running) in gone {
            running.stop();
            report.udp_removed.push(running.local);
            stopped.push(running.task);
        }
        for task in stopped {
            let _ = task.await;
        }

        for (entry, listener) in tcp_bound {
            let running = self.spawn_tcp(&entry, listener);
            report.tcp_added.push(running.local);
            self.tcp.push((entry, running));
        }
        for (addr, socket) in udp_bound {
            let running = self.spawn_udp(socket, addr);
            report.udp_added.push(running.local);
            self.udp.push((addr, running));
        }
        Ok(report)
    }

    fn spawn_tcp(&self, entry: &TcpListen, listener: TcpListener) -> Running {
        let local = listener.local_addr().unwrap_or(entry.addr);
        let stop = CancellationToken::new();
        let (ctx, listen) = (self.ctx.clone(), Arc::new(entry.clone()));
        let task = match self.workers.handles() {
            Some(workers) => tokio::spawn(super::workers::accept_on_workers(
                workers.to_vec(),
                listener,
                local,
                ctx,
                stop.clone(),
                listen,
            )),
            None => {
                let slots = ctx.admission.worker(0);
                tokio::spawn(tcp::accept_loop_on(
                    listener,
                    ctx,
                    stop.clone(),
                    listen,
                    slots,
                ))
            }
        };
        tracing::info!(
            listen = %local, tls = entry.tls, sni_preread = entry.sni_preread,
            proxy_protocol = entry.proxy_protocol, "listening on tcp"
        );
        Running { local, stop, task }
    }

    fn spawn_udp(&self, socket: UdpSocket, addr: SocketAddr) -> Running {
        let local = socket.local_addr().unwrap_or(addr);
        let stop = CancellationToken::new();
        let (ctx, max) = (self.ctx.clone(), self.udp_max_sessions);
        let task = match self.workers.handles() {
            Some(workers) => tokio::spawn(super::workers::udp_on_worker(
                workers.to_vec(),
                socket,
                ctx,
                stop.clone(),
                max,
            )),
            None => tokio::spawn(udp::serve(socket, ctx, stop.clone(), max)),
        };
        tracing::info!(listen = %local, "listening on udp");
        Running { local, stop, task }
    }

    /// The bound TCP addresses, in configuration order.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp.iter().map(|(_, r)| r.local).collect()
    }

    /// The bound UDP addresses, in configuration order.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|(_, r)| r.local).collect()
    }

    /// The address bound for the configured TCP entry `entry`.
    pub fn tcp_addr_of(&self, entry: &TcpListen) -> Option<SocketAddr> {
        self.tcp
            .iter()
            .find(|(have, _)| have == entry)
            .map(|(_, r)| r.local)
    }

    /// Stops every UDP listener (and so its sessions) and waits for them.
    pub async fn stop_udp(&mut self) {
        let all = std::mem::take(&mut self.udp);
        for (_, running) in &all {
            running.stop();
        }
        for (_, running) in all {
            let _ = running.task.await;
        }
    }

    /// Stops accepting on every listener (TCP and UDP) and waits for the accept tasks.
    /// Accepted TCP connections are not touched.
    pub async fn stop_all(&mut self) {
        self.stop_udp().await;
        let all = std::mem::take(&mut self.tcp);
        for (_, running) in &all {
            running.stop();
        }
        for (_, running) in all {
            let _ = running.task.await;
        }
    }
}

impl Drop for ListenerSet {
    fn drop(&mut self) {
        for (_, running) in &self.tcp {
            running.stop();
        }
        for (_, running) in &self.udp {
            running.stop();
        }
    }
}
