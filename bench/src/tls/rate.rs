//! Handshakes per second: `concurrency` loops, each one connection after another: TCP
//! connect, TLS 1.3 handshake, 32 B written, the 32 B echo read, then read to the end (the
//! upstream, `gwbench echo --once`, closes first, so TIME_WAIT never lands on the client's
//! ports). With resumption each loop keeps its own session cache, filled by one untimed
//! connection before the clock starts, so every timed connection offers the ticket of the
//! loop's previous one; rustls' `handshake_kind()` says whether the server accepted it.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls::pki_types::ServerName;
use rustls::HandshakeKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::{client_config, connect, server_name, MESSAGE, TIMEOUT};

/// What `gwbench tls-rate` runs.
pub struct RatePlan {
    pub target: SocketAddr,
    pub sni: String,
    pub concurrency: usize,
    pub duration: Duration,
    /// Offer the previous connection's session ticket (per loop).
    pub resume: bool,
}

/// Counts of one run.
#[derive(Default)]
struct Tally {
    done: Cell<u64>,
    resumed: Cell<u64>,
    failed: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Tally {
    fn record(&self, outcome: anyhow::Result<HandshakeKind>) {
        match outcome {
            Ok(kind) => {
                self.done.set(self.done.get() + 1);
                if kind == HandshakeKind::Resumed {
                    self.resumed.set(self.resumed.get() + 1);
                }
            }
            Err(e) => {
                self.failed.set(self.failed.get() + 1);
                self.first_error
                    .borrow_mut()
                    .get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// One connection; returns how its handshake went.
async fn one_connection(
    target: SocketAddr,
    name: &ServerName<'static>,
    connector: &TlsConnector,
) -> anyhow::Result<HandshakeKind> {
    let mut tls = connect(target, name, connector).await?;
    let kind = tls
        .get_ref()
        .1
        .handshake_kind()
        .context("handshake finished without a kind")?;
    tls.write_all(&MESSAGE).await?;
    tls.flush().await?;
    let mut back = [0u8; 32];
    tls.read_exact(&mut back)
        .await
        .with_context(|| format!("no 32 B echo from {target}"))?;
    anyhow::ensure!(back == MESSAGE, "echo from {target} differs");
    let mut rest = [0u8; 64];
    loop {
        match tls.read(&mut rest).await {
            Ok(0) => break,
            Ok(_) => {}
            // A peer that closes without close_notify: the end all the same.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(kind)
}

/// One connection within [`TIMEOUT`].
async fn bounded_connection(
    target: SocketAddr,
    name: &ServerName<'static>,
    connector: &TlsConnector,
) -> anyhow::Result<HandshakeKind> {
    tokio::time::timeout(TIMEOUT, one_connection(target, name, connector))
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "no answer from {target} within {TIMEOUT:?}"
            ))
        })
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Rate {
    pub handshakes: u64,
    pub resumed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
}

/// Runs the plan. Fails when the first connection (not counted) or a warm-up connection
/// fails, naming the step, or when no timed connection succeeded.
pub async fn measure(plan: &RatePlan) -> anyhow::Result<Rate> {
    let name = server_name(&plan.sni)?;
    let target = plan.target;
    let shared = client_config(0)?;
    bounded_connection(target, &name, &TlsConnector::from(shared.clone()))
        .await
        .with_context(|| format!("first connection to {target}"))?;

    let mut connectors = Vec::new();
    for slot in 0..plan.concurrency.max(1) {
        if !plan.resume {
            connectors.push(TlsConnector::from(shared.clone()));
            continue;
        }
        // One session cache per loop, its tickets offered only by its own connections; one
        // untimed connection first, so every timed one can resume.
        let connector = TlsConnector::from(client_config(4)?);
        bounded_connection(target, &name, &connector)
            .await
            .with_context(|| format!("warm-up connection {slot} to {target}"))?;
        connectors.push(connector);
    }
    let tally = Rc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let local = tokio::task::LocalSet::new();
    for connector in connectors {
        let (tally, name) = (tally.clone(), name.clone());
        local.spawn_local(async move {
            while Instant::now() < deadline {
                tally.record(bounded_connection(target, &name, &connector).await);
            }
        });
    }
    local.await;
    let seconds = started.elapsed().as_secs_f64();
    let rate = Rate {
        handshakes: tally.done.get(),
        resumed: tally.resumed.get(),
        errors: tally.failed.get(),
        first_error: tally.first_error.borrow().clone(),
        seconds,
    };
    anyhow::ensure!(
        rate.handshakes > 0,
        "no connection to {target} succeeded in {seconds:.1} s (the first error: {})",
        rate.first_error.as_deref().unwrap_or("none")
    );
    Ok(rate)
}

/// Runs the plan and prints `handshakes=`, `resumed=`, `resumed_fraction=`, `errors=`,
/// `seconds=` and `handshakes_per_sec=` lines (failed connections and the first error on
/// stderr).
pub async fn handshakes(plan: RatePlan) -> anyhow::Result<()> {
    let rate = measure(&plan).await?;
    if let Some(e) = &rate.first_error {
        eprintln!(
            "gwbench tls-rate: {} connections failed, the first: {e}",
            rate.errors
        );
    }
    println!("handshakes={}", rate.handshakes);
    println!("resumed={}", rate.resumed);
    println!(
        "resumed_fraction={:.4}",
        rate.resumed as f64 / rate.handshakes as f64
    );
    println!("errors={}", rate.errors);
    println!("seconds={:.3}", rate.seconds);
    println!(
        "handshakes_per_sec={:.0}",
        rate.handshakes as f64 / rate.seconds
    );
    Ok(())
}
