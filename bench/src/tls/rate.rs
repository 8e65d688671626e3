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

/// Runs the plan and prints `handshakes=`, `resumed=`, `resumed_fraction=`, `errors=`,
/// `seconds=` and `handshakes_per_sec=` lines. Fails when the first connection (not
/// counted) fails, naming the step, or when no connection succeeded.
pub async fn handshakes(plan: RatePlan) -> anyhow::Result<()> {
    let name = server_name(&plan.sni)?;
    let probe = TlsConnector::from(client_config(0)?);
    tokio::time::timeout(TIMEOUT, one_connection(plan.target, &name, &probe))
        .await
        .with_context(|| format!("no answer from {} within {TIMEOUT:?}", plan.target))?
        .with_context(|| format!("first connection to {}", plan.target))?;

    let shared = client_config(0)?;
    let mut connectors = Vec::new();
    for slot in 0..plan.concurrency.max(1) {
        if !plan.resume {
            connectors.push(TlsConnector::from(shared.clone()));
            continue;
        }
        // One session cache per loop, its tickets offered only by its own connections; one
        // untimed connection first, so every timed one can resume.
        let connector = TlsConnector::from(client_config(4)?);
        tokio::time::timeout(TIMEOUT, one_connection(plan.target, &name, &connector))
            .await
            .with_context(|| format!("no answer from {} within {TIMEOUT:?}", plan.target))?
            .with_context(|| format!("warm-up connection {slot} to {}", plan.target))?;
        connectors.push(connector);
    }
    let tally = Rc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let local = tokio::task::LocalSet::new();
    for connector in connectors {
        let (tally, name) = (tally.clone(), name.clone());
        let target = plan.target;
        local.spawn_local(async move {
            while Instant::now() < deadline {
                let outcome =
                    match tokio::time::timeout(TIMEOUT, one_connection(target, &name, &connector))
                        .await
                    {
                        Ok(outcome) => outcome,
                        Err(_) => Err(anyhow::anyhow!("no answer from {target} within {TIMEOUT:?}")),
                    };
                tally.record(outcome);
            }
        });
    }
    local.await;
    let secs = started.elapsed().as_secs_f64();
    let (done, resumed, failed) = (tally.done.get(), tally.resumed.get(), tally.failed.get());
    if let Some(e) = tally.first_error.borrow().as_deref() {
        eprintln!("gwbench tls-rate: {failed} connections failed, the first: {e}");
    }
    anyhow::ensure!(
        done > 0,
        "no connection to {} succeeded in {secs:.1} s",
        plan.target
    );
    println!("handshakes={done}");
    println!("resumed={resumed}");
    println!("resumed_fraction={:.4}", resumed as f64 / done as f64);
    println!("errors={failed}");
    println!("seconds={secs:.3}");
    println!("handshakes_per_sec={:.0}", done as f64 / secs);
    Ok(())
}
