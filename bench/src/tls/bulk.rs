//! TLS bulk download: `streams` TLS connections to a terminating proxy whose upstream writes
//! endlessly (`gwbench source`), all read at once for the run's duration, so the proxy's
//! encryption, not one client stream, sets the pace.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::{client_config, connect, server_name, MESSAGE, TIMEOUT};

/// Read buffer per stream.
const BUFFER: usize = 256 * 1024;

/// Opens the streams (each handshake must succeed within [`TIMEOUT`], else the error names
/// the stream and the step), sends 32 B on each, reads all of them until `duration` has
/// passed, and prints `bytes=`, `seconds=` and `gbit_per_sec=`.
pub async fn download(
    target: SocketAddr,
    sni: &str,
    streams: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let name = server_name(sni)?;
    let connector = TlsConnector::from(client_config(0)?);
    let mut opened = Vec::new();
    for i in 0..streams.max(1) {
        let mut tls = tokio::time::timeout(TIMEOUT, connect(target, &name, &connector))
            .await
            .with_context(|| format!("stream {i}: no handshake with {target} within {TIMEOUT:?}"))?
            .with_context(|| format!("stream {i}"))?;
        tls.write_all(&MESSAGE).await?;
        tls.flush().await?;
        opened.push(tls);
    }
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + duration);
    let mut readers = tokio::task::JoinSet::new();
    for (i, mut tls) in opened.into_iter().enumerate() {
        readers.spawn(async move {
            let mut buf = vec![0u8; BUFFER];
            let mut bytes = 0u64;
            loop {
                match tokio::time::timeout_at(deadline, tls.read(&mut buf)).await {
                    Err(_) => return Ok(bytes),
                    Ok(Ok(0)) => anyhow::bail!("stream {i}: {target} closed after {bytes} B"),
                    Ok(Ok(n)) => bytes += n as u64,
                    Ok(Err(e)) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("stream {i}: reading from {target}")))
                    }
                }
            }
        });
    }
    let mut total = 0u64;
    while let Some(joined) = readers.join_next().await {
        total += joined.context("reader task")??;
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(total > 0, "no bytes from {target}");
    println!("bytes={total}");
    println!("seconds={secs:.3}");
    println!("gbit_per_sec={:.3}", total as f64 * 8.0 / secs / 1e9);
    Ok(())
}
