//! Counting backends for the end-to-end proxy tests, on 127.0.0.1:0 (or an address the test
//! picks, [`TcpBackend::greeting_on`]), each counting what it saw.
//!
//! - [`TcpBackend::echo`]: echoes every byte; on the client's EOF it finishes echoing and shuts
//!   down its write side (so half-close can be observed end to end).
//! - [`TcpBackend::greeting`]: first writes `<name>\n`, then behaves like the echo server, so a
//!   client learns which backend took the connection.
//! - [`TcpBackend::reply_after_eof`]: reads until the client's EOF, then answers
//!   `got <n> bytes\n` and closes (proves half-close reaches the backend and the reply still
//!   comes back).
//! - [`UdpEcho`]: answers every datagram with the same bytes, counting datagrams and peers;
//!   [`UdpEcho::tagged`] puts `<tag>:` before the bytes, so a client learns which backend answered.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// What a TCP backend does with each connection.
#[derive(Debug, Clone)]
enum Behaviour {
    Echo,
    Greeting(String),
    ReplyAfterEof,
}

#[derive(Debug, Default)]
struct TcpStats {
    accepted: AtomicUsize,
    active: AtomicUsize,
}

/// A TCP backend server running on the test's tokio runtime.
#[derive(Debug)]
pub struct TcpBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its name (the greeting line, without `\n`).
    pub name: String,
    stats: Arc<TcpStats>,
    task: JoinHandle<()>,
}

impl TcpBackend {
    /// An echo server.
    pub async fn echo(name: &str) -> TcpBackend {
        Self::start(name, Behaviour::Echo).await
    }

    /// A server that writes `<name>\n` on accept, then echoes.
    pub async fn greeting(name: &str) -> TcpBackend {
        Self::start(name, Behaviour::Greeting(format!("{name}\n"))).await
    }

    /// [`TcpBackend::greeting`] listening on `addr` (e.g. `127.0.0.2:<port>` or `[::1]:0`:
    /// two backends on one port behind one DNS name).
    pub async fn greeting_on(name: &str, addr: SocketAddr) -> TcpBackend {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("binding a backend on {addr}: {e}"));
        Self::serve(name, Behaviour::Greeting(format!("{name}\n")), listener)
    }

    /// Two greeting servers on one port, at 127.0.0.1 and 127.0.0.2: where one node
    /// `name:port` goes depends only on what `name` resolves to.
    pub async fn greeting_pair(first: &str, second: &str) -> (TcpBackend, TcpBackend) {
        let a = Self::greeting_on(first, SocketAddr::from(([127, 0, 0, 1], 0))).await;
        let b = Self::greeting_on(second, SocketAddr::from(([127, 0, 0, 2], a.addr.port()))).await;
        (a, b)
    }

    /// A server that answers `got <n> bytes\n` only after the client's EOF.
    pub async fn reply_after_eof(name: &str) -> TcpBackend {
        Self::start(name, Behaviour::ReplyAfterEof).await
    }

    async fn start(name: &str, behaviour: Behaviour) -> TcpBackend {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("binding a backend on 127.0.0.1:0");
        Self::serve(name, behaviour, listener)
    }

    fn serve(name: &str, behaviour: Behaviour, listener: TcpListener) -> TcpBackend {
        let addr = listener
            .local_addr()
            .expect("local addr of a bound listener");
        let stats = Arc::new(TcpStats::default());
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                task_stats.accepted.fetch_add(1, Ordering::SeqCst);
                task_stats.active.fetch_add(1, Ordering::SeqCst);
                let stats = task_stats.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let _ = match behaviour {
                        Behaviour::Echo => serve_echo(stream, None).await,
                        Behaviour::Greeting(greeting) => serve_echo(stream, Some(greeting)).await,
                        Behaviour::ReplyAfterEof => serve_reply_after_eof(stream).await,
                    };
                    stats.active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        TcpBackend {
            addr,
            name: name.to_string(),
            stats,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn active(&self) -> usize {
        self.stats.active.load(Ordering::SeqCst)
    }

    /// The node key for an upstream `nodes` hash: `"127.0.0.1:<port>"`.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection: writes `greeting` first when given, then echoes every byte; on the
/// client's EOF it finishes echoing and shuts its write side down.
pub async fn serve_echo(mut stream: TcpStream, greeting: Option<String>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(greeting) = greeting {
        stream.write_all(greeting.as_bytes()).await?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            stream.shutdown().await?;
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn serve_reply_after_eof(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n;
    }
    stream
        .write_all(format!("got {total} bytes\n").as_bytes())
        .await?;
    stream.shutdown().await
}

#[derive(Debug, Default)]
struct UdpStats {
    datagrams: AtomicUsize,
    peers: Mutex<HashSet<SocketAddr>>,
}

/// A UDP echo server.
#[derive(Debug)]
pub struct UdpEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    stats: Arc<UdpStats>,
    task: JoinHandle<()>,
}

impl UdpEcho {
    /// Starts the server on 127.0.0.1:0.
    pub async fn start() -> UdpEcho {
        UdpEcho::tagged("").await
    }

    /// Starts a server on 127.0.0.1:0 that answers `<tag>:<datagram>` (the bare datagram when
    /// `tag` is empty).
    pub async fn tagged(tag: &str) -> UdpEcho {
        let prefix = if tag.is_empty() {
            Vec::new()
        } else {
            format!("{tag}:").into_bytes()
        };
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("binding a UDP backend on 127.0.0.1:0");
        let addr = socket.local_addr().expect("local addr of a bound socket");
        let stats = Arc::new(UdpStats::default());
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            let mut buf = prefix.clone();
            buf.resize(prefix.len() + 65536, 0);
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf[prefix.len()..]).await else {
                    continue;
                };
                task_stats.datagrams.fetch_add(1, Ordering::SeqCst);
                task_stats
                    .peers
                    .lock()
                    .expect("udp peer set lock")
                    .insert(peer);
                let _ = socket.send_to(&buf[..prefix.len() + n], peer).await;
            }
        });
        UdpEcho { addr, stats, task }
    }

    /// Datagrams received so far.
    pub fn datagrams(&self) -> usize {
        self.stats.datagrams.load(Ordering::SeqCst)
    }

    /// Distinct source addresses seen (the gateway's per-session upstream sockets).
    pub fn peers(&self) -> usize {
        self.stats.peers.lock().expect("udp peer set lock").len()
    }

    /// The node key for an upstream `nodes` hash.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}
