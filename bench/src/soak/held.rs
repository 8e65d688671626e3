//! Held connections: `count` TCP connections through the gateway, opened [`OPENING`] at a
//! time, each verified with a first echo and then held until the load stops. Every
//! `echo_every` each sends the next window of its own pattern (48 bytes, seed = its number)
//! and checks the echo, the connections' turns spread evenly over the interval. At the stop
//! each is closed in order ([`exchange::close`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::exchange;
use super::tally::{bump, Tally};

/// Connections being opened at once.
const OPENING: usize = 200;
/// Bytes per echo.
const MESSAGE: usize = 48;
/// Seeds of held connections start here (other flows use other ranges).
const SEED_BASE: u64 = 1 << 40;

/// What to hold.
#[derive(Debug, Clone)]
pub struct HeldPlan {
    pub target: SocketAddr,
    pub count: usize,
    pub echo_every: Duration,
}

/// Opens the connections, says so on `ramped` once every open has finished (well or not),
/// and returns when all are closed after `stop`.
pub async fn run(
    plan: HeldPlan,
    tally: Arc<Tally>,
    stop: CancellationToken,
    ramped: oneshot::Sender<()>,
) {
    let opening = Arc::new(Semaphore::new(OPENING));
    let mut tasks = JoinSet::new();
    for id in 0..plan.count {
        let permit = tokio::select! {
            permit = opening.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = stop.cancelled() => break,
        };
        let (plan, tally, stop) = (plan.clone(), tally.clone(), stop.clone());
        tasks.spawn(async move {
            hold(id, &plan, &tally, &stop, permit).await;
        });
    }
    // Every permit back: every open finished.
    let _ = opening.acquire_many(OPENING as u32).await;
    let _ = ramped.send(());
    while tasks.join_next().await.is_some() {}
}

/// One held connection, from its open to its close.
async fn hold(
    id: usize,
    plan: &HeldPlan,
    tally: &Tally,
    stop: &CancellationToken,
    opening: tokio::sync::OwnedSemaphorePermit,
) {
    let seed = SEED_BASE + id as u64;
    let opened = async {
        let mut stream = exchange::connect(plan.target).await?;
        exchange::echo(&mut stream, seed, 0, MESSAGE).await?;
        anyhow::Ok(stream)
    }
    .await;
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(e) => return tally.fail(format!("held connection {id}: opening: {e:#}")),
    };
    bump(&tally.held_opened);
    bump(&tally.held_open);
    // Counted first: the ramp ends when every permit is back.
    drop(opening);
    // Spread the turns: connection `id` speaks at its own fraction of the interval.
    let share = (id as f64 / plan.count.max(1) as f64).fract();
    let mut next = Instant::now() + plan.echo_every.mul_f64(share);
    let mut round: u64 = 1;
    let outcome = loop {
        tokio::select! {
            () = stop.cancelled() => break exchange::close(stream).await,
            () = tokio::time::sleep_until(next) => {}
        }
        if let Err(e) = exchange::echo(&mut stream, seed, round * MESSAGE as u64, MESSAGE).await {
            break Err(e.context(format!("echo {round}")));
        }
        bump(&tally.held_echoes);
        round += 1;
        next += plan.echo_every;
    };
    tally
        .held_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if let Err(e) = outcome {
        tally.fail(format!("held connection {id}: {e:#}"));
    }
}
