//! [`SwallowRelay`], a TCP relay on loopback in front of one etcd member that can swallow the
//! member's answers: a request is applied but its client never hears back, the ambiguous
//! failure that retried writes must survive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay on loopback in front of `target`. While [`SwallowRelay::swallow`] is on, bytes
/// from the target are read and dropped: requests arrive and are applied, answers never do.
pub struct SwallowRelay {
    pub addr: SocketAddr,
    swallowing: Arc<AtomicBool>,
    /// Client writes still to pass before swallowing starts (0: not armed).
    armed: Arc<AtomicUsize>,
}

impl SwallowRelay {
    /// Starts relaying to `target`.
    pub async fn start(target: SocketAddr) -> SwallowRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let swallowing = Arc::new(AtomicBool::new(false));
        let armed = Arc::new(AtomicUsize::new(0));
        let (flag, countdown) = (swallowing.clone(), armed.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (flag, countdown) = (flag.clone(), countdown.clone());
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let requests = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = client_read.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<(), std::io::Error>(());
                            }
                            let left = countdown.load(Ordering::SeqCst);
                            if left == 1 {
                                flag.store(true, Ordering::SeqCst);
                            }
                            if left > 0 {
                                countdown.store(left - 1, Ordering::SeqCst);
                            }
                            upstream_write.write_all(&buf[..n]).await?;
                        }
                    };
                    let answers = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = upstream_read.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<(), std::io::Error>(());
                            }
                            if !flag.load(Ordering::SeqCst) {
                                client_write.write_all(&buf[..n]).await?;
                            }
                        }
                    };
                    let _ = tokio::join!(requests, answers);
                });
            }
        });
        SwallowRelay {
            addr,
            swallowing,
            armed,
        }
    }

    /// `http://<relay addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts swallowing once `passed` more client writes went through: the answer to the
    /// request after them is lost (a request is one write on an idle HTTP/2 connection).
    pub fn swallow_after(&self, passed: usize) {
        self.armed.store(passed + 1, Ordering::SeqCst);
    }

    /// Starts or stops swallowing the target's answers.
    pub fn swallow(&self, on: bool) {
        self.swallowing.store(on, Ordering::SeqCst);
    }
}

/// The loopback socket address of an `http://127.0.0.1:<port>` endpoint.
pub fn endpoint_addr(endpoint: &str) -> SocketAddr {
    endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("an http://ip:port endpoint")
}
