//! Churn: new TCP connections at `rate` per second through the gateway to an echo server that
//! closes after one reply (`gwbench echo --once`). Each sends 64 bytes of its own pattern,
//! checks the echo and then the close. The server closing first keeps TIME_WAIT on the
//! listening sides, so hundreds of thousands of connections do not use up ephemeral ports.
//!
//! Starts are paced from the clock (connection `n` starts at `n / rate` s), at most
//! [`IN_FLIGHT`] at once; a start that finds that many still running is skipped and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::exchange;
use super::tally::{bump, Tally};

/// Most churn connections open at once.
const IN_FLIGHT: usize = 2_000;
/// Bytes each churn connection echoes (one segment: the echo server answers its first read).
const MESSAGE: usize = 64;
/// Seeds of churn connections start here.
const SEED_BASE: u64 = 2 << 40;
/// How often due starts are made.
const TICK: Duration = Duration::from_millis(10);

/// Makes connections until `stop`, then waits for those in flight.
pub async fn run(target: SocketAddr, rate: f64, tally: Arc<Tally>, stop: CancellationToken) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    let mut begun: u64 = 0;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while begun < due {
            let seq = begun;
            begun += 1;
            match in_flight.clone().try_acquire_owned() {
                Ok(permit) => {
                    let tally = tally.clone();
                    tasks.spawn(async move { one(target, seq, &tally, permit).await });
                }
                Err(_) => bump(&tally.churn_skipped),
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// One churn connection.
async fn one(target: SocketAddr, seq: u64, tally: &Tally, _slot: OwnedSemaphorePermit) {
    let outcome = async {
        let mut stream = exchange::connect(target).await?;
        exchange::echo(&mut stream, SEED_BASE + seq, 0, MESSAGE).await?;
        exchange::expect_eof(&mut stream).await
    }
    .await;
    match outcome {
        Ok(()) => bump(&tally.churn_done),
        Err(e) => tally.fail(format!("churn connection {seq}: {e:#}")),
    }
}
