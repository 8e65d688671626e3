//! Fire-and-forget backends on 127.0.0.1:0: each returns its address (and, for the TCP echo,
//! a channel of closed connections) and serves until the test's runtime ends.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

async fn bind_tcp() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend on 127.0.0.1:0");
    let addr = listener.local_addr().expect("backend addr");
    (listener, addr)
}

/// A TCP echo backend; each connection echoes until EOF, then closes its write side.
/// Sends a message on the returned channel when a connection's read side sees EOF or error.
pub async fn tcp_echo() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let (listener, addr) = bind_tcp().await;
    let (closed_tx, closed_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
                let _ = closed_tx.send(());
            });
        }
    });
    (addr, closed_rx)
}

/// A UDP echo backend.
pub async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp echo");
    let addr = socket.local_addr().expect("udp echo addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// A TCP backend that writes `<tag>:` on accept, then echoes.
pub async fn tag_then_echo(tag: &str) -> SocketAddr {
    let (listener, addr) = bind_tcp().await;
    let tag = format!("{tag}:");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tag = tag.clone();
            tokio::spawn(async move {
                let _ = write_tag_then_echo(stream, &tag).await;
            });
        }
    });
    addr
}

/// Writes `tag` on `stream`, then echoes until EOF and shuts the write side down.
pub async fn write_tag_then_echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tag: &str,
) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    w.write_all(tag.as_bytes()).await?;
    w.flush().await?;
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
}

/// A TCP backend that answers every read with `<tag>:<bytes>`.
pub async fn tag_each_read(tag: &'static str) -> SocketAddr {
    let (listener, addr) = bind_tcp().await;
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut out = format!("{tag}:").into_bytes();
                    out.extend_from_slice(&buf[..n]);
                    if conn.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A TCP backend that reads everything until EOF, then answers `got <n> bytes` and closes.
pub async fn count_then_reply() -> SocketAddr {
    let (listener, addr) = bind_tcp().await;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if stream.read_to_end(&mut all).await.is_ok() {
                    let reply = format!("got {} bytes", all.len());
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}
