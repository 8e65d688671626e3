//! A fault-injecting TCP relay in front of one upstream node, running on the test's runtime,
//! with its mode switched at run time ([`FaultRelay::set_mode`], which returns once the mode
//! is in force):
//!
//! - [`FaultMode::Pass`]: relays both directions unchanged (half-close passed on).
//! - [`FaultMode::Delay`]: the same, but every chunk waits a fixed time before it is passed
//!   on, in both directions and on connections already open; bytes stay exact.
//! - [`FaultMode::Drop`]: accepts, then closes at once with a reset (`SO_LINGER` 0), so the
//!   peer sees its session fail rather than an empty reply.
//! - [`FaultMode::Reset`]: the listener is closed: new connects are refused (RST).
//! - [`FaultMode::Blackhole`]: SYNs are dropped, so connects time out. The listener is bound
//!   again with a backlog of 0, never accepts, and its accept queue is filled with a dummy
//!   connection of the relay's own: Linux drops a SYN that finds the accept queue full.
//!
//! Connections already relayed keep going through every mode change (only Delay touches them).
//! The listener port is taken below the ephemeral range ([`crate::ports::free_port`]), so that
//! binding it again after Reset or Blackhole cannot collide with a client socket.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::STEP_TIMEOUT;

/// What the relay does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    Pass,
    Delay(Duration),
    Drop,
    Reset,
    Blackhole,
}

/// Listen backlog while the relay accepts.
const BACKLOG: i32 = 128;
/// How long a dummy connect may wait before the accept queue counts as full.
const FILL_PROBE: Duration = Duration::from_millis(300);
/// Most dummy connections tried to fill the accept queue.
const FILL_MAX: usize = 16;

/// Counters of one relay.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicU64,
    accepted_from: Mutex<HashMap<IpAddr, u64>>,
    dropped: AtomicU64,
    to_target: AtomicU64,
    to_client: AtomicU64,
}

type Command = (FaultMode, oneshot::Sender<anyhow::Result<()>>);

/// A running relay; dropping it closes the listener and every relayed connection.
#[derive(Debug)]
pub struct FaultRelay {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The node it relays to.
    pub target: SocketAddr,
    commands: mpsc::Sender<Command>,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl FaultRelay {
    /// Starts a relay on `ip` (a free port) to `target`, in [`FaultMode::Pass`].
    pub async fn start(ip: IpAddr, target: SocketAddr) -> anyhow::Result<FaultRelay> {
        let addr = SocketAddr::new(ip, crate::ports::free_port());
        let listener = bind(addr, BACKLOG).with_context(|| format!("relay bind {addr}"))?;
        let (commands, rx) = mpsc::channel(4);
        let stats = Arc::new(Stats::default());
        let supervisor = Supervisor {
            addr,
            target,
            state: State::Listening(listener),
            mode: watch::Sender::new(FaultMode::Pass),
            stats: stats.clone(),
            relays: JoinSet::new(),
        };
        let task = tokio::spawn(supervisor.run(rx));
        Ok(FaultRelay {
            addr,
            target,
            commands,
            stats,
            task,
        })
    }

    /// Switches the mode; returns once new connections get the new behaviour.
    pub async fn set_mode(&self, mode: FaultMode) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        self.commands
            .send((mode, ack))
            .await
            .map_err(|_| anyhow::anyhow!("relay {} has stopped", self.addr))?;
        tokio::time::timeout(STEP_TIMEOUT, done)
            .await
            .with_context(|| format!("relay {}: switching to {mode:?} timed out", self.addr))?
            .map_err(|_| anyhow::anyhow!("relay {} has stopped", self.addr))?
    }

    /// Connections accepted so far (in every mode).
    pub fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted from `ip` so far (e.g. a gateway's health probes).
    pub fn accepted_from(&self, ip: IpAddr) -> u64 {
        let from = self
            .stats
            .accepted_from
            .lock()
            .expect("relay peer map lock");
        from.get(&ip).copied().unwrap_or(0)
    }

    /// Connections closed at once in [`FaultMode::Drop`].
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::SeqCst)
    }

    /// Bytes relayed (client → target, target → client).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.stats.to_target.load(Ordering::SeqCst),
            self.stats.to_client.load(Ordering::SeqCst),
        )
    }

    /// The node key for an upstream `nodes` hash.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The listening side in each mode.
enum State {
    Listening(TcpListener),
    Closed,
    /// Held only to keep the port's accept queue full.
    Blackholed {
        _listener: TcpListener,
        _fillers: Vec<TcpStream>,
    },
}

/// The task owning the listener and every relayed connection.
struct Supervisor {
    addr: SocketAddr,
    target: SocketAddr,
    state: State,
    /// The mode in force, read by relays for [`FaultMode::Delay`].
    mode: watch::Sender<FaultMode>,
    stats: Arc<Stats>,
    relays: JoinSet<()>,
}

impl Supervisor {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            while self.relays.try_join_next().is_some() {}
            let accept = async {
                match &self.state {
                    State::Listening(listener) => listener.accept().await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => {
                    let Some((mode, ack)) = command else { return };
                    let result = self.apply(mode).await;
                    if result.is_ok() {
                        self.mode.send_replace(mode);
                    }
                    let _ = ack.send(result);
                }
                accepted = accept => {
                    if let Ok((stream, peer)) = accepted {
                        self.on_accept(stream, peer);
                    }
                }
            }
        }
    }

    /// Puts the listening side into the shape `mode` needs.
    async fn apply(&mut self, mode: FaultMode) -> anyhow::Result<()> {
        match mode {
            FaultMode::Pass | FaultMode::Delay(_) | FaultMode::Drop => {
                if !matches!(self.state, State::Listening(_)) {
                    self.state = State::Closed;
                    self.state = State::Listening(bind(self.addr, BACKLOG)?);
                }
            }
            FaultMode::Reset => self.state = State::Closed,
            FaultMode::Blackhole => {
                self.state = State::Closed;
                let listener = bind(self.addr, 0)?;
                let fillers = fill_accept_queue(self.addr).await?;
                self.state = State::Blackholed {
                    _listener: listener,
                    _fillers: fillers,
                };
            }
        }
        Ok(())
    }

    fn on_accept(&mut self, stream: TcpStream, peer: SocketAddr) {
        self.stats.accepted.fetch_add(1, Ordering::SeqCst);
        *self
            .stats
            .accepted_from
            .lock()
            .expect("relay peer map lock")
            .entry(peer.ip())
            .or_default() += 1;
        if *self.mode.borrow() == FaultMode::Drop {
            let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            self.stats.dropped.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let target = self.target;
        let mode = self.mode.subscribe();
        let stats = self.stats.clone();
        self.relays.spawn(async move {
            let _ = relay(stream, target, mode, stats).await;
        });
    }
}

/// A listener on `addr` with `SO_REUSEADDR` and the given backlog.
fn bind(addr: SocketAddr, backlog: i32) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into())?)
}

/// Connects to the (non-accepting, backlog 0) listener at `addr` until a connect hangs: from
/// then on its accept queue is full and the kernel drops every SYN. Returns the connections
/// that must stay open.
async fn fill_accept_queue(addr: SocketAddr) -> anyhow::Result<Vec<TcpStream>> {
    let mut held = Vec::new();
    for _ in 0..FILL_MAX {
        match tokio::time::timeout(FILL_PROBE, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => held.push(stream),
            Ok(Err(e)) => anyhow::bail!("filling the accept queue of {addr}: {e}"),
            Err(_) => return Ok(held),
        }
    }
    anyhow::bail!("the accept queue of {addr} still took connections after {FILL_MAX}")
}

async fn relay(
    client: TcpStream,
    target: SocketAddr,
    mode: watch::Receiver<FaultMode>,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let upstream = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(target)).await??;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = upstream.into_split();
    let up = pump(client_r, up_w, mode.clone(), &stats.to_target);
    let down = pump(up_r, client_w, mode, &stats.to_client);
    let (a, b) = tokio::join!(up, down);
    a.and(b)
}

/// Copies one direction chunk by chunk (delaying each in [`FaultMode::Delay`]); passes EOF on
/// as a half-close.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mode: watch::Receiver<FaultMode>,
    counter: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        let delay = match *mode.borrow() {
            FaultMode::Delay(d) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            // The injected fault itself, not a synchronisation.
            tokio::time::sleep(d).await;
        }
        to.write_all(&buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
}
