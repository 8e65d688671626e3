//! `gwbench fleet`: how fast a route written through gateway A's Admin API reaches gateway B
//! when both share one etcd cluster (scripts/fleet-bench.sh starts the fleet).
//!
//! For each of `writes` stream routes, one after the other:
//! 1. [`probe`] checks that B does not proxy the route's source address yet (else: `stale`);
//! 2. `PUT /apisix/admin/stream_routes/fleet-<run>-<i>` on A, the route matching only
//!    `remote_addr` = that source, upstream the echo server; a non-2xx or no answer counts as a
//!    write error;
//! 3. from A's 2xx answer, B is probed every `poll` until an echo from that source comes back
//!    through B's listener (the convergence time) or `timeout` passes (a timeout).
//!
//! The run stops early when its time budget is spent; the writes left count as `skipped`.
//! With `clear_etcd`, the run's routes are deleted afterwards (one etcd range delete), so a
//! following run starts from the same number of routes: B recompiles its whole route table on
//! each change, so convergence time grows with the route count.
//! Results go to [`summary`]; [`report`] renders the table of both runs; [`etcd`] finds the
//! cluster's leader for the script.

pub mod etcd;
mod probe;
pub mod report;
mod summary;

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

use summary::{Outcome, Summary};

/// How long the warm-up route may take to reach B.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound of one Admin API request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long B may take to drop a run's routes after they were deleted.
const CLEAR_TIMEOUT: Duration = Duration::from_secs(10);
/// Progress is logged on stderr every this many writes.
const PROGRESS_EVERY: usize = 250;

/// One measured run, as given on the command line.
#[derive(Debug, Clone)]
pub struct FleetRun {
    /// Gateway A's Admin API.
    pub admin: SocketAddr,
    /// Its admin key (`X-API-KEY`).
    pub key: String,
    /// Gateway B's stream listener.
    pub probe: SocketAddr,
    /// The echo server every route points at.
    pub upstream: SocketAddr,
    /// Routes to write.
    pub writes: usize,
    /// Second octet of the source addresses (127.<net>.x.y); one per run.
    pub net: u8,
    /// Run name (`up`, `down`): route ids `fleet-<run>-<i>` and the results' first column.
    pub run: String,
    /// Longest wait for B after A's answer.
    pub timeout: Duration,
    /// Time between probes.
    pub poll: Duration,
    /// Time budget of the run: writes not started by then are skipped.
    pub budget: Duration,
    /// First write one route and wait (up to 30 s) until B proxies it, unmeasured.
    pub warmup: bool,
    /// Append `run<TAB>key<TAB>value` lines here.
    pub results: Option<PathBuf>,
    /// Write one line per write here (outcome, admin and convergence ms).
    pub samples: Option<PathBuf>,
    /// After the run, delete its routes through this etcd member (`<prefix>/stream_routes/
    /// fleet-<run>-*`) and wait until B stops proxying them, so the next run starts from the
    /// same route count.
    pub clear_etcd: Option<String>,
    /// `deployment.etcd.prefix` of the gateways.
    pub etcd_prefix: String,
}

/// Runs the writes and prints the summary (`key=value` lines).
pub async fn run(cfg: FleetRun) -> anyhow::Result<()> {
    ensure!(
        cfg.writes <= probe::MAX_ROUTES,
        "--writes {} is more than the {} source addresses of one run",
        cfg.writes,
        probe::MAX_ROUTES
    );
    let client = reqwest::Client::builder()
        .timeout(ADMIN_TIMEOUT)
        .build()
        .context("cannot build the http client")?;
    if cfg.warmup {
        warm_up(&client, &cfg).await;
    }
    let started = Instant::now();
    let mut summary = Summary::default();
    for index in 0..cfg.writes {
        if started.elapsed() >= cfg.budget {
            summary.skipped = cfg.writes - index;
            eprintln!(
                "fleet {}: time budget of {:?} spent, {} writes skipped",
                cfg.run, cfg.budget, summary.skipped
            );
            break;
        }
        let outcome = one_write(&client, &cfg, index, &mut summary).await;
        summary.outcomes.push(outcome);
        if (index + 1) % PROGRESS_EVERY == 0 {
            eprintln!(
                "fleet {}: {}/{} writes, {} converged, {} write errors, {} timeouts",
                cfg.run,
                index + 1,
                cfg.writes,
                summary.converged(),
                summary.write_errors(),
                summary.timeouts()
            );
        }
    }
    let pairs = summary.pairs(cfg.writes, cfg.timeout, started.elapsed().as_secs_f64());
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "run={}", cfg.run)?;
    for (key, value) in &pairs {
        writeln!(stdout, "{key}={value}")?;
    }
    if let Some(path) = &cfg.results {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        for (key, value) in &pairs {
            writeln!(file, "{}\t{key}\t{value}", cfg.run)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if let Some(path) = &cfg.samples {
        std::fs::write(path, summary.samples())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(endpoint) = &cfg.clear_etcd {
        // The run's figures are out already: a failed clean-up is reported, not fatal.
        if let Err(error) = clear(&cfg, endpoint).await {
            eprintln!("fleet {}: clean-up failed: {error:#}", cfg.run);
        }
    }
    Ok(())
}

/// Writes route `index` and waits for B; failures are noted in `summary`.
async fn one_write(
    client: &reqwest::Client,
    cfg: &FleetRun,
    index: usize,
    summary: &mut Summary,
) -> Outcome {
    let source = probe::source_of(cfg.net, index);
    if probe::proxied(source, cfg.probe).await {
        summary.note_error(format!(
            "B already proxies {source} before route {index} is written"
        ));
        return Outcome::Stale;
    }
    let id = format!("fleet-{}-{index}", cfg.run);
    let sent = Instant::now();
    if let Err(error) = put_route(client, cfg, &id, source).await {
        summary.note_error(format!("{error:#}"));
        return Outcome::WriteError;
    }
    let answered = Instant::now();
    let admin = answered - sent;
    match wait_proxied(source, cfg.probe, answered, cfg.timeout, cfg.poll).await {
        Some(converge) => Outcome::Converged { admin, converge },
        None => {
            summary.note_error(format!(
                "route {id} ({source}) not proxied by B within {:?}",
                cfg.timeout
            ));
            Outcome::TimedOut { admin }
        }
    }
}

/// `PUT /apisix/admin/stream_routes/<id>` on A; Ok once A answered 2xx.
async fn put_route(
    client: &reqwest::Client,
    cfg: &FleetRun,
    id: &str,
    source: Ipv4Addr,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "remote_addr": source.to_string(),
        "upstream": {"type": "roundrobin", "nodes": {cfg.upstream.to_string(): 1}},
    });
    let response = client
        .put(format!(
            "http://{}/apisix/admin/stream_routes/{id}",
            cfg.admin
        ))
        .header("X-API-KEY", &cfg.key)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("PUT stream_routes/{id} on {}", cfg.admin))?;
    let status = response.status();
    // Read the body so the keep-alive connection can be reused.
    let text = response.text().await.unwrap_or_default();
    ensure!(
        status.is_success(),
        "PUT stream_routes/{id} on {}: {status} {}",
        cfg.admin,
        text.trim()
    );
    Ok(())
}

/// Probes every `poll` from `since` until B proxies `source` (the time since `since`), or
/// `timeout` passes (`None`).
async fn wait_proxied(
    source: Ipv4Addr,
    target: SocketAddr,
    since: Instant,
    timeout: Duration,
    poll: Duration,
) -> Option<Duration> {
    let deadline = since + timeout;
    loop {
        let attempt = Instant::now();
        if probe::proxied(source, target).await {
            return Some(since.elapsed());
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep_until((attempt + poll).min(deadline).into()).await;
    }
}

/// One unmeasured route, so the first measured write does not pay for B's start-up.
async fn warm_up(client: &reqwest::Client, cfg: &FleetRun) {
    let source = probe::warmup_source(cfg.net);
    let id = format!("fleet-{}-warmup", cfg.run);
    if let Err(error) = put_route(client, cfg, &id, source).await {
        eprintln!("fleet {}: warm-up write failed: {error:#}", cfg.run);
        return;
    }
    let waited = wait_proxied(source, cfg.probe, Instant::now(), WARMUP_TIMEOUT, cfg.poll).await;
    match waited {
        Some(took) => eprintln!("fleet {}: warm-up route reached B in {took:?}", cfg.run),
        None => eprintln!(
            "fleet {}: warm-up route did not reach B within {WARMUP_TIMEOUT:?}",
            cfg.run
        ),
    }
}

/// Deletes the run's routes in etcd and waits (bounded) until B no longer proxies the first
/// and the last route's source.
async fn clear(cfg: &FleetRun, endpoint: &str) -> anyhow::Result<()> {
    let prefix = format!(
        "{}/stream_routes/fleet-{}-",
        cfg.etcd_prefix.trim_end_matches('/'),
        cfg.run
    );
    let deleted = etcd::delete_prefix(endpoint, &prefix)
        .await
        .with_context(|| format!("cannot delete {prefix}* in etcd"))?;
    let started = Instant::now();
    let sources = [
        probe::source_of(cfg.net, 0),
        probe::source_of(cfg.net, cfg.writes.saturating_sub(1)),
    ];
    for source in sources {
        while probe::proxied(source, cfg.probe).await {
            if started.elapsed() >= CLEAR_TIMEOUT {
                eprintln!(
                    "fleet {}: B still proxies {source} {CLEAR_TIMEOUT:?} after its route was deleted",
                    cfg.run
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!(
        "fleet {}: deleted {deleted} routes ({prefix}*), B dropped them within {:?}",
        cfg.run,
        started.elapsed()
    );
    Ok(())
}
