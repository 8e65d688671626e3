//! Echo servers: TCP (one task per connection, a small buffer) and UDP (one socket).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Serves until killed. With `once`, a TCP connection is closed after its first echo (so the
/// server closes first, as `gwbench connrate` expects).
pub async fn serve(
    tcp: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    once: bool,
) -> anyhow::Result<()> {
    let tcp_task = async {
        let Some(addr) = tcp else {
            return std::future::pending::<anyhow::Result<()>>().await;
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on tcp {addr}"))?;
        loop {
            let (mut stream, _) = listener.accept().await.context("accept")?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() || once {
                                return;
                            }
                        }
                    }
                }
            });
        }
    };
    let udp_task = async {
        let Some(addr) = udp else {
            return std::future::pending::<anyhow::Result<()>>().await;
        };
        let socket = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("cannot listen on udp {addr}"))?;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, peer) = socket.recv_from(&mut buf).await.context("recv")?;
            let _ = socket.send_to(&buf[..n], peer).await;
        }
    };
    tokio::try_join!(tcp_task, udp_task).map(|_| ())
}
