//! The TCP steps every soak flow is made of: connect, one verified echo of a pattern window,
//! and an orderly close that checks nothing more arrives. Each step is bounded by [`IO_TIMEOUT`]
//! (generous: the machine may be busy with other work; a soak is not a speed test).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pattern;

/// The longest any single step may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `target` with `TCP_NODELAY` (so each small message is one segment).
pub async fn connect(target: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(target))
        .await
        .context("connect timed out")?
        .context("connect")?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(stream)
}

/// Sends `len` bytes of the stream `seed` from `offset` and checks the echo byte for byte.
pub async fn echo(
    stream: &mut TcpStream,
    seed: u64,
    offset: u64,
    len: usize,
) -> anyhow::Result<()> {
    let message = pattern::bytes(seed, offset, len);
    tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(&message).await.context("send")?;
        let mut back = vec![0u8; len];
        stream
            .read_exact(&mut back)
            .await
            .context("echo cut short")?;
        if let Some(i) = pattern::first_mismatch(seed, offset, &back) {
            anyhow::bail!("echo differs at byte {}", offset + i as u64);
        }
        anyhow::Ok(())
    })
    .await
    .context("echo timed out")?
}

/// Reads until the peer closes; more bytes are an error.
pub async fn expect_eof(stream: &mut TcpStream) -> anyhow::Result<()> {
    let mut extra = [0u8; 64];
    let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut extra))
        .await
        .context("waiting for the close timed out")?
        .context("waiting for the close")?;
    ensure!(n == 0, "{n} unexpected bytes before the close");
    Ok(())
}

/// Half-closes our side, then waits for the peer's close (the echo server closes when it
/// reads our end), so the gateway sees an orderly end on both legs.
pub async fn close(mut stream: TcpStream) -> anyhow::Result<()> {
    tokio::time::timeout(IO_TIMEOUT, stream.shutdown())
        .await
        .context("shutdown timed out")?
        .context("shutdown")?;
    expect_eof(&mut stream).await
}
