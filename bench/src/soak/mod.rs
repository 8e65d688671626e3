//! `gwbench soak` (scripts/soak.sh, `make soak`): a long run of mixed load through a running
//! gateway, watching that its memory and file descriptors come back when the load ends and
//! that every byte relayed is the byte sent.
//!
//! Layout:
//! - [`held`], [`churn`], [`bulk`], [`datagrams`]: the four flows (held TCP connections that
//!   echo now and then, new connections at a fixed rate, paced bulk echo streams, UDP
//!   sessions), each checking what comes back against [`pattern`] and counting in [`tally`];
//!   [`exchange`] holds their common TCP steps.
//! - [`probe`]: one reading of the gateway (RSS, fds, `/v1/status`, metrics).
//! - [`record`]: the samples and their CSV; [`plot`]: the SVG; [`verdict`]: pass or fail.
//!
//! Phases: `start` (one reading before any load; its counters are the zero point), then
//! `warmup_rounds` short rounds of the same load, each followed by a `drain`, and the `baseline`
//! reading; then the measured round: `ramp` (opening the held connections) and `load`
//! (`duration`), then `drain` (until the gateway's sessions are back to the start's count) and
//! `after` (until RSS and fds are back within the tolerance, or `settle` passes). A reading is
//! recorded every `sample_every` throughout and at each phase's start.
//!
//! Why warm-up rounds: the gateway's allocator (glibc malloc) keeps memory freed by one round
//! of connections in its per-thread arenas for the next, and the splice relay keeps a bounded
//! pool of pipes per worker thread. Both grow over the first rounds and then stay flat, so the
//! baseline is taken once they have settled; the measured round then shows whether a long run
//! adds anything on top (a leak). The cold `start` reading is reported too.

mod bulk;
mod churn;
mod datagrams;
mod exchange;
#[cfg(test)]
mod flows_tests;
mod held;
mod pattern;
mod plot;
mod probe;
mod record;
mod tally;
mod verdict;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use probe::{GatewayProbe, GatewayReading};
use record::{ClientReading, Sample};
use tally::Tally;
pub use verdict::TOLERANCE;

/// How long the gateway may take to list the soak's routes.
const ROUTES_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause between the warm-up's drain and the baseline reading.
const BASELINE_PAUSE: Duration = Duration::from_secs(5);
/// How often drain and settle poll the gateway.
const POLL: Duration = Duration::from_secs(1);
/// File descriptors the driver needs beyond its held connections and UDP sessions.
const SPARE_FDS: u64 = 2_500;

/// A soak run, as given on the command line.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub gateway_pid: u32,
    pub control_url: String,
    pub metrics_url: String,
    /// The gateway's listener routed to the echo server, for held connections.
    pub held: SocketAddr,
    /// The listener routed to the echo server that closes after one reply.
    pub churn: SocketAddr,
    /// The listener routed to an echo server, for bulk flows.
    pub bulk: SocketAddr,
    /// The UDP listener routed to a UDP echo server.
    pub udp: SocketAddr,
    /// Stream routes the gateway must list before the run starts.
    pub routes: usize,
    pub conns: usize,
    pub held_echo_every: Duration,
    /// New connections per second.
    pub churn_rate: f64,
    pub bulk_flows: usize,
    /// Bytes per second per bulk flow.
    pub bulk_rate: f64,
    pub bulk_conn_bytes: u64,
    pub udp_sessions: usize,
    pub udp_every: Duration,
    pub duration: Duration,
    /// Warm-up rounds before the baseline (0: the baseline is the gateway before any load).
    pub warmup_rounds: usize,
    /// Load time of each warm-up round once its held connections are open.
    pub warmup: Duration,
    pub sample_every: Duration,
    pub drain_timeout: Duration,
    pub settle: Duration,
    pub tolerance: f64,
    /// Where `soak.csv`, `soak.svg` and `summary.txt` go.
    pub out_dir: PathBuf,
}

/// Runs the soak, writes its files and prints the summary; `Ok(false)` when a check failed.
pub async fn run(plan: &SoakPlan) -> anyhow::Result<bool> {
    check_open_file_limit(plan)?;
    let probe = GatewayProbe::new(plan.gateway_pid, &plan.control_url, &plan.metrics_url)?;
    wait_routes(&probe, plan.routes).await?;
    let tally = Arc::new(Tally::default());
    let mut rec = Recorder {
        probe,
        tally: tally.clone(),
        started: Instant::now(),
        every: plan.sample_every,
        samples: Vec::new(),
    };
    let start = rec.record("start").await?;
    let idle = start.gateway.sessions;
    let baseline = if plan.warmup_rounds == 0 {
        start.clone()
    } else {
        for _ in 0..plan.warmup_rounds {
            load_round(&mut rec, plan, plan.warmup, ("warmup", "warmup")).await?;
            drain(&mut rec, idle, plan.drain_timeout).await?;
        }
        rec.during("drain", tokio::time::sleep(BASELINE_PAUSE))
            .await?;
        rec.record("baseline").await?
    };
    let loaded_at = rec.started.elapsed();
    let held_peak = load_round(&mut rec, plan, plan.duration, ("ramp", "load")).await?;
    let load_secs = (rec.started.elapsed() - loaded_at).as_secs_f64();
    drain(&mut rec, idle, plan.drain_timeout).await?;
    let after = settle(&mut rec, &baseline.gateway, plan).await?;
    let evidence = verdict::Evidence {
        start: start.gateway,
        baseline: baseline.gateway,
        after: after.gateway,
        client: after.client,
        held_peak,
        held_wanted: plan.conns as u64,
        churn_wanted: plan.churn_rate > 0.0,
        bulk_wanted: plan.bulk_flows > 0,
        udp_wanted: plan.udp_sessions > 0,
    };
    let verdict = verdict::decide(&evidence, plan.tolerance);
    let summary = summary(plan, &rec.samples, &evidence, load_secs, &tally);
    write_files(plan, &rec.samples, &baseline.gateway, &summary, &verdict)?;
    print!("{summary}");
    println!("{verdict}");
    for message in tally.messages() {
        println!("error: {message}");
    }
    println!("result={}", if verdict.passed() { "PASS" } else { "FAIL" });
    Ok(verdict.passed())
}

/// The four flows of one round, running until stopped.
struct Load {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    ramped: Option<oneshot::Receiver<()>>,
}

impl Load {
    fn start(plan: &SoakPlan, tally: &Arc<Tally>) -> Load {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let (ramped_tx, ramped) = oneshot::channel();
        let held = held::HeldPlan {
            target: plan.held,
            count: plan.conns,
            echo_every: plan.held_echo_every,
        };
        tasks.spawn(held::run(held, tally.clone(), stop.clone(), ramped_tx));
        if plan.churn_rate > 0.0 {
            tasks.spawn(churn::run(
                plan.churn,
                plan.churn_rate,
                tally.clone(),
                stop.clone(),
            ));
        }
        let bulk = bulk::BulkPlan {
            target: plan.bulk,
            flows: plan.bulk_flows,
            rate: plan.bulk_rate,
            conn_bytes: plan.bulk_conn_bytes,
        };
        tasks.spawn(bulk::run(bulk, tally.clone(), stop.clone()));
        tasks.spawn(datagrams::run(
            plan.udp,
            plan.udp_sessions,
            plan.udp_every,
            tally.clone(),
            stop.clone(),
        ));
        Load {
            stop,
            tasks,
            ramped: Some(ramped),
        }
    }

    /// Until every held connection's open finished.
    async fn ramped(&mut self) {
        if let Some(ramped) = self.ramped.take() {
            let _ = ramped.await;
        }
    }

    /// Stops every flow and waits until each has closed its connections.
    async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One round: ramp, hold for `hold`, stop. Returns the held connections open after the ramp.
async fn load_round(
    rec: &mut Recorder,
    plan: &SoakPlan,
    hold: Duration,
    (ramp_phase, hold_phase): (&'static str, &'static str),
) -> anyhow::Result<u64> {
    let mut load = Load::start(plan, &rec.tally);
    rec.during(ramp_phase, load.ramped()).await?;
    let peak = rec.record(hold_phase).await?.client.held_open;
    rec.during(hold_phase, tokio::time::sleep(hold)).await?;
    rec.record(hold_phase).await?;
    rec.during("drain", load.stop()).await?;
    Ok(peak)
}

/// Until the gateway's taken session slots are back to `idle` (its count before any load:
/// each TCP listener's accept loop holds one while it waits), or `timeout`.
async fn drain(rec: &mut Recorder, idle: u64, timeout: Duration) -> anyhow::Result<()> {
    let probe = rec.probe.clone();
    let deadline = Instant::now() + timeout;
    rec.during("drain", async move {
        while Instant::now() < deadline {
            match probe.read().await {
                Ok(r) if r.sessions <= idle => return,
                _ => tokio::time::sleep(POLL).await,
            }
        }
    })
    .await?;
    rec.record("drain").await.map(drop)
}

/// Until RSS and fds are within the tolerance of `baseline` (or `plan.settle` passes); the
/// last reading, recorded as `after`.
async fn settle(
    rec: &mut Recorder,
    baseline: &GatewayReading,
    plan: &SoakPlan,
) -> anyhow::Result<Sample> {
    let probe = rec.probe.clone();
    let (base, tolerance) = (*baseline, plan.tolerance);
    let deadline = Instant::now() + plan.settle;
    rec.during("after", async move {
        while Instant::now() < deadline {
            if let Ok(r) = probe.read().await {
                if verdict::within(r.rss_kb, base.rss_kb, tolerance)
                    && verdict::within(r.fds, base.fds, tolerance)
                {
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await?;
    rec.record("after").await
}

/// Takes and keeps the readings.
struct Recorder {
    probe: GatewayProbe,
    tally: Arc<Tally>,
    started: Instant,
    every: Duration,
    samples: Vec<Sample>,
}

impl Recorder {
    /// One reading of the gateway and the driver, kept and logged on stderr.
    async fn record(&mut self, phase: &'static str) -> anyhow::Result<Sample> {
        let gateway = self.probe.read().await?;
        let sample = Sample {
            t_secs: self.started.elapsed().as_secs_f64(),
            phase,
            gateway,
            client: ClientReading::of(&self.tally),
        };
        let (g, c) = (&sample.gateway, &sample.client);
        eprintln!(
            "soak: {:6.0}s {phase:<8} rss={:.1}MiB fds={} sessions={} held={} churn={} bulk={:.1}MB udp={} errors={}",
            sample.t_secs,
            g.rss_kb as f64 / 1024.0,
            g.fds,
            g.sessions,
            c.held_open,
            c.churn_done,
            c.bulk_bytes as f64 / 1e6,
            c.udp_datagrams,
            c.errors
        );
        self.samples.push(sample.clone());
        Ok(sample)
    }

    /// Runs `work`, recording a `phase` reading every `every` meanwhile.
    async fn during<F: Future>(
        &mut self,
        phase: &'static str,
        work: F,
    ) -> anyhow::Result<F::Output> {
        tokio::pin!(work);
        let mut tick = tokio::time::interval_at(Instant::now() + self.every, self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                _ = tick.tick() => {
                    self.record(phase).await?;
                }
            }
        }
    }
}

/// Until the Control API lists at least `routes` stream routes.
async fn wait_routes(probe: &GatewayProbe, routes: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + ROUTES_TIMEOUT;
    loop {
        let listed = probe.control().stream_routes().await.map(|l| l.total);
        match listed {
            Ok(n) if n >= routes => return Ok(()),
            _ if Instant::now() >= deadline => {
                bail!("the gateway does not list {routes} stream routes after {ROUTES_TIMEOUT:?} ({listed:?})")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Fails early when this process may not open the sockets the plan needs.
fn check_open_file_limit(plan: &SoakPlan) -> anyhow::Result<()> {
    let needed = (plan.conns + plan.udp_sessions + plan.bulk_flows) as u64 + SPARE_FDS;
    let limits = std::fs::read_to_string("/proc/self/limits").context("/proc/self/limits")?;
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < needed => bail!(
            "the open-file limit is {soft}, {needed} are needed for {} held connections: raise it (ulimit -n; scripts/soak.sh does)",
            plan.conns
        ),
        _ => Ok(()),
    }
}

/// The run's figures as `key=value` lines.
fn summary(
    plan: &SoakPlan,
    samples: &[Sample],
    e: &verdict::Evidence,
    load_secs: f64,
    tally: &Tally,
) -> String {
    let measured: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase == "ramp" || s.phase == "load")
        .collect();
    let peak = |f: fn(&Sample) -> u64| measured.iter().map(|s| f(s)).max().unwrap_or(0);
    let end = ClientReading::of(tally);
    let base = samples
        .iter()
        .find(|s| s.phase == "baseline")
        .or_else(|| samples.first())
        .map(|s| s.client)
        .unwrap_or_default();
    let figures: Vec<(&str, String)> = vec![
        ("load_secs", format!("{load_secs:.0}")),
        ("conns", e.held_peak.to_string()),
        (
            "held_echoes",
            (end.held_echoes - base.held_echoes).to_string(),
        ),
        (
            "churn_conns",
            (end.churn_done - base.churn_done).to_string(),
        ),
        (
            "churn_per_sec",
            format!(
                "{:.0}",
                (end.churn_done - base.churn_done) as f64 / load_secs.max(1.0)
            ),
        ),
        (
            "churn_skipped",
            (end.churn_skipped - base.churn_skipped).to_string(),
        ),
        ("bulk_flows", plan.bulk_flows.to_string()),
        ("bulk_conns", (end.bulk_conns - base.bulk_conns).to_string()),
        ("bulk_bytes", (end.bulk_bytes - base.bulk_bytes).to_string()),
        ("udp_sessions", plan.udp_sessions.to_string()),
        (
            "udp_datagrams",
            (end.udp_datagrams - base.udp_datagrams).to_string(),
        ),
        ("udp_resent", (end.udp_resent - base.udp_resent).to_string()),
        ("errors", end.errors.to_string()),
        (
            "gw_failed_sessions",
            e.after
                .sessions_failed
                .saturating_sub(e.start.sessions_failed)
                .to_string(),
        ),
        (
            "gw_sessions",
            e.after
                .sessions_total
                .saturating_sub(e.start.sessions_total)
                .to_string(),
        ),
        ("rss_start_kb", e.start.rss_kb.to_string()),
        ("rss_baseline_kb", e.baseline.rss_kb.to_string()),
        ("rss_peak_kb", peak(|s| s.gateway.rss_kb).to_string()),
        ("rss_after_kb", e.after.rss_kb.to_string()),
        ("fds_start", e.start.fds.to_string()),
        ("fds_baseline", e.baseline.fds.to_string()),
        ("fds_peak", peak(|s| s.gateway.fds).to_string()),
        ("fds_after", e.after.fds.to_string()),
        ("sessions_peak", peak(|s| s.gateway.sessions).to_string()),
        ("samples", samples.len().to_string()),
    ];
    figures.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// `soak.csv`, `soak.svg` and `summary.txt` into `plan.out_dir`.
fn write_files(
    plan: &SoakPlan,
    samples: &[Sample],
    baseline: &GatewayReading,
    summary: &str,
    verdict: &verdict::Verdict,
) -> anyhow::Result<()> {
    let dir = &plan.out_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let title = format!(
        "gateway soak: {} held connections, {:.0} new/s, {} bulk flows, {} UDP sessions, {:.0} min",
        plan.conns,
        plan.churn_rate,
        plan.bulk_flows,
        plan.udp_sessions,
        plan.duration.as_secs_f64() / 60.0
    );
    let files = [
        ("soak.csv", record::csv(samples)),
        (
            "soak.svg",
            plot::svg(samples, &title, Some(baseline), plan.tolerance),
        ),
        ("summary.txt", format!("{summary}{verdict}")),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
