//! TCP client helpers with a timeout on every step: connect (optionally from a chosen local
//! address), read a greeting line, echo round trips, and "the gateway closed this connection
//! without sending anything"; [`round_trip`] for the in-process tests, which panic instead.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::wait::{within, STEP_TIMEOUT};

/// Connects to `addr` within [`STEP_TIMEOUT`].
pub async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = timeout(STEP_TIMEOUT, TcpStream::connect(addr))
        .await
        .with_context(|| format!("connect to {addr}: timed out"))?
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects to `addr` from `local_ip` (e.g. 127.0.0.2) with an ephemeral port.
pub async fn connect_from(local_ip: IpAddr, addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = if local_ip.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket
        .bind(SocketAddr::new(local_ip, 0))
        .with_context(|| format!("bind {local_ip}:0"))?;
    let stream = timeout(STEP_TIMEOUT, socket.connect(addr))
        .await
        .with_context(|| format!("connect {local_ip} -> {addr}: timed out"))?
        .with_context(|| format!("connect {local_ip} -> {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one `\n`-terminated line (without the `\n`) within [`STEP_TIMEOUT`].
pub async fn read_line(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut line = Vec::new();
    let read = async {
        loop {
            let mut byte = [0u8; 1];
            let n = stream.read(&mut byte).await?;
            if n == 0 {
                anyhow::bail!(
                    "connection closed after {:?} before the end of the line",
                    String::from_utf8_lossy(&line)
                );
            }
            if byte[0] == b'\n' {
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            line.push(byte[0]);
        }
    };
    timeout(STEP_TIMEOUT, read)
        .await
        .context("reading a line: timed out")?
}

/// Connects to `addr` and returns the greeting line (the backend's name).
pub async fn greeting(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = connect(addr).await?;
    read_line(&mut stream).await
}

/// Like [`greeting`], connecting from `local_ip`.
pub async fn greeting_from(local_ip: IpAddr, addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = connect_from(local_ip, addr).await?;
    read_line(&mut stream).await
}

/// Writes `payload` and reads the same number of bytes back; fails unless they are equal.
pub async fn echo_roundtrip(stream: &mut TcpStream, payload: &[u8]) -> anyhow::Result<()> {
    timeout(STEP_TIMEOUT, stream.write_all(payload))
        .await
        .context("echo write: timed out")??;
    let mut back = vec![0u8; payload.len()];
    timeout(STEP_TIMEOUT, stream.read_exact(&mut back))
        .await
        .context("echo read: timed out")?
        .context("echo read")?;
    anyhow::ensure!(back == payload, "echo returned different bytes");
    Ok(())
}

/// Waits (up to `limit`) for the peer to close the connection; fails if any byte arrives
/// first. A reset counts as closed. Returns how long it took.
pub async fn expect_closed_without_data(
    stream: &mut TcpStream,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    match timeout(limit, stream.read(&mut buf)).await {
        Err(_) => anyhow::bail!("connection still open after {limit:?}"),
        Ok(Ok(0)) | Ok(Err(_)) => Ok(started.elapsed()),
        Ok(Ok(n)) => anyhow::bail!(
            "expected the connection to be closed, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// Waits (up to `limit`) for EOF or a reset, discarding any bytes that arrive first.
pub async fn expect_closed(stream: &mut TcpStream, limit: Duration) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let remaining = limit.saturating_sub(started.elapsed());
        match timeout(remaining, stream.read(&mut buf)).await {
            Err(_) => anyhow::bail!("connection still open after {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Polls (new connection each time) until a connection to `addr` greets with `name`, within
/// `limit`: how tests wait for a route write to reach the data path.
pub async fn wait_for_greeting(
    addr: SocketAddr,
    name: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let last = match timeout(Duration::from_secs(2), greeting(addr)).await {
            Ok(Ok(got)) if got == name => return Ok(()),
            Ok(Ok(got)) => format!("greeted with {got:?}"),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => "no greeting within 2 s".to_string(),
        };
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "{addr} did not greet with {name:?} within {limit:?} (last attempt: {last})"
            );
        }
        tokio::time::sleep(crate::wait::POLL_INTERVAL).await;
    }
}

/// Writes `msg` and reads back exactly as many bytes; panics on an error or after
/// [`STEP_TIMEOUT`].
pub async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).await.expect("write through proxy");
    let mut back = vec![0u8; msg.len()];
    within("echo reply", stream.read_exact(&mut back))
        .await
        .expect("read echo through proxy");
    back
}
