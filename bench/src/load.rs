//! TCP load: new-connection rate and idle-connection holding.

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MESSAGE: [u8; 32] = *b"gwbench-0123456789abcdefghijklmn";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Connect, send 32 B, read the 32 B echo, then read to EOF (the server closes first, so the
/// TIME_WAIT state never lands on the client's ephemeral ports).
async fn one_exchange(target: SocketAddr) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&MESSAGE).await?;
    let mut back = [0u8; 32];
    stream.read_exact(&mut back).await?;
    anyhow::ensure!(back == MESSAGE, "echo differs");
    let mut rest = [0u8; 64];
    while stream.read(&mut rest).await? > 0 {}
    Ok(())
}

/// Runs `concurrency` connect/echo/close loops for `duration` and prints the rate.
/// Needs an echo server that closes after the first echo (`gwbench echo --once`).
pub async fn connrate(
    target: SocketAddr,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let done = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let deadline = started + duration;
    let local = tokio::task::LocalSet::new();
    for _ in 0..concurrency {
        let (done, failed) = (done.clone(), failed.clone());
        local.spawn_local(async move {
            while Instant::now() < deadline {
                match tokio::time::timeout(TIMEOUT, one_exchange(target)).await {
                    Ok(Ok(())) => done.set(done.get() + 1),
                    _ => failed.set(failed.get() + 1),
                }
            }
        });
    }
    local.await;
    let secs = started.elapsed().as_secs_f64();
    println!("conns={}", done.get());
    println!("errors={}", failed.get());
    println!("seconds={secs:.3}");
    println!("conns_per_sec={:.0}", done.get() as f64 / secs);
    Ok(())
}

/// Opens `count` connections with `open`, 100 at a time (each within [`TIMEOUT`]).
pub async fn open_batched<F, Fut>(count: usize, open: F) -> anyhow::Result<Vec<TcpStream>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<TcpStream>> + Send + 'static,
{
    let mut streams = Vec::with_capacity(count);
    while streams.len() < count {
        let mut opens = tokio::task::JoinSet::new();
        for _ in 0..(count - streams.len()).min(100) {
            opens.spawn(tokio::time::timeout(TIMEOUT, open()));
        }
        while let Some(joined) = opens.join_next().await {
            let stream = joined
                .context("open task")?
                .context("opening a connection timed out")?
                .context("cannot open a connection")?;
            streams.push(stream);
        }
    }
    Ok(streams)
}

/// Opens `count` connections (100 at a time), one 32 B echo each, then holds them.
pub async fn idle(target: SocketAddr, count: usize, ready_file: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let held = open_batched(count, || async move {
        let mut stream = TcpStream::connect(target).await?;
        stream.write_all(&MESSAGE).await?;
        let mut back = [0u8; 32];
        stream.read_exact(&mut back).await?;
        anyhow::ensure!(back == MESSAGE, "echo differs");
        anyhow::Ok(stream)
    })
    .await?;
    std::fs::write(
        ready_file,
        format!(
            "count={count}\nseconds={:.3}\n",
            started.elapsed().as_secs_f64()
        ),
    )
    .with_context(|| format!("cannot write {}", ready_file.display()))?;
    println!("holding={count}");
    std::future::pending::<()>().await;
    drop(held);
    Ok(())
}
