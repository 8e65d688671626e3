//! Bulk flows: `flows` loops, each sending `conn_bytes` of its pattern through one TCP
//! connection to an echo server at `rate` bytes/s while reading the echo back and checking
//! every byte, then closing and starting the next connection. At the stop a flow stops
//! sending, half-closes, and still checks that everything it sent comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::exchange::{self, IO_TIMEOUT};
use super::pattern;
use super::tally::{add, bump, Tally};

/// Bytes per write.
const CHUNK: usize = 64 * 1024;
/// Seeds of bulk connections start here: flow in bits 24.., connection number below.
const SEED_BASE: u64 = 3 << 40;
/// Pause after a failed connection before the flow tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bulk flows.
#[derive(Debug, Clone)]
pub struct BulkPlan {
    pub target: SocketAddr,
    pub flows: usize,
    /// Bytes per second per flow (each way).
    pub rate: f64,
    /// Bytes per connection.
    pub conn_bytes: u64,
}

/// Runs the flows until `stop`.
pub async fn run(plan: BulkPlan, tally: Arc<Tally>, stop: CancellationToken) {
    let mut tasks = JoinSet::new();
    for flow in 0..plan.flows {
        let (plan, tally, stop) = (plan.clone(), tally.clone(), stop.clone());
        tasks.spawn(async move {
            let mut conn: u64 = 0;
            while !stop.is_cancelled() {
                let seed = SEED_BASE + ((flow as u64) << 24) + conn;
                bump(&tally.bulk_conns);
                if let Err(e) = transfer(&plan, seed, &tally, &stop).await {
                    tally.fail(format!("bulk flow {flow} connection {conn}: {e:#}"));
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
                conn += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// One connection: paced sending and checked receiving at once.
async fn transfer(
    plan: &BulkPlan,
    seed: u64,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let stream = exchange::connect(plan.target).await?;
    let (mut from, mut to) = stream.into_split();
    let send = async {
        let started = Instant::now();
        let mut buf = vec![0u8; CHUNK];
        let mut sent: u64 = 0;
        while sent < plan.conn_bytes && !stop.is_cancelled() {
            let n = CHUNK.min((plan.conn_bytes - sent) as usize);
            pattern::fill(seed, sent, &mut buf[..n]);
            tokio::time::timeout(IO_TIMEOUT, to.write_all(&buf[..n]))
                .await
                .context("send timed out")?
                .context("send")?;
            sent += n as u64;
            let due = started + Duration::from_secs_f64(sent as f64 / plan.rate);
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep_until(due) => {}
            }
        }
        to.shutdown().await.context("shutdown")?;
        anyhow::Ok(sent)
    };
    let receive = async {
        let mut buf = vec![0u8; CHUNK];
        let mut got: u64 = 0;
        loop {
            let n = tokio::time::timeout(IO_TIMEOUT, from.read(&mut buf))
                .await
                .context("echo timed out")?
                .context("receive")?;
            if n == 0 {
                return anyhow::Ok(got);
            }
            if let Some(i) = pattern::first_mismatch(seed, got, &buf[..n]) {
                anyhow::bail!("echo differs at byte {}", got + i as u64);
            }
            got += n as u64;
            add(&tally.bulk_bytes, n as u64);
        }
    };
    let (sent, got) = tokio::try_join!(send, receive)?;
    ensure!(sent == got, "sent {sent} bytes, {got} came back");
    Ok(())
}
