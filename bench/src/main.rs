//! `gwbench`: the small load tools behind `make bench` (see docs/bench.md) and `make soak`
//! (the `soak` subcommand, docs/soak.md).
//!
//! Every tool runs on one `current_thread` runtime so that `taskset -c 0` pins it to one core.
//! Results are printed as `key=value` lines on stdout for scripts/bench.sh to collect.

mod echo;
mod fleet;
mod flows;
mod load;
mod ports;
mod report;
mod routes;
mod soak;
mod tls;
mod udp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gwbench", about = "load tools for the gateway benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// TCP and/or UDP echo server.
    Echo {
        #[arg(long)]
        tcp: Option<SocketAddr>,
        #[arg(long)]
        udp: Option<SocketAddr>,
        /// Close each TCP connection after its first echo.
        #[arg(long)]
        once: bool,
    },
    /// New connections per second: connect, 32 B echo, close, on `concurrency` loops.
    Connrate {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
    },
    /// Opens `count` connections, does one 32 B echo on each, writes `ready_file`, then holds
    /// them until killed.
    Idle {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 5000)]
        count: usize,
        #[arg(long)]
        ready_file: PathBuf,
    },
    /// Concurrent active echo flows: `flows` connections, each a closed loop of `size`-byte
    /// messages (every echoed byte checked); prints messages/s and p50/p99/p99.9 latency (µs).
    Flows {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        flows: usize,
        #[arg(long, default_value_t = 64)]
        size: usize,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
    },
    /// UDP datagrams per second and round trips with `window` datagrams in flight.
    Udp {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        #[arg(long, default_value_t = 16)]
        window: usize,
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Creates `count` non-matching stream routes (remote_addr 10.x.y.z) on `port` through the
    /// Admin API, ids `bench-filler-<n>`.
    Routes {
        #[arg(long)]
        admin: SocketAddr,
        #[arg(long)]
        key: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Reads `system<TAB>figure<TAB>value` lines and prints the markdown table.
    Report { results: PathBuf },
    /// Route convergence between two gateways on one etcd (scripts/fleet-bench.sh): PUTs
    /// `writes` stream routes through A's Admin API, route i matching only the source address
    /// 127.<net>.<i/250>.<i%250+1>, and times from each 2xx answer until an echo from that
    /// source goes through B's listener `probe`.
    Fleet {
        /// Gateway A's Admin API.
        #[arg(long)]
        admin: SocketAddr,
        /// A's admin key.
        #[arg(long)]
        key: String,
        /// Gateway B's TCP stream listener.
        #[arg(long)]
        probe: SocketAddr,
        /// The TCP echo server the routes point at.
        #[arg(long)]
        upstream: SocketAddr,
        /// Run name: route ids `fleet-<run>-<i>`, first column of the results.
        #[arg(long)]
        run: String,
        #[arg(long, default_value_t = 1000)]
        writes: usize,
        /// Second octet of the source addresses (use another one per run).
        #[arg(long, default_value_t = 77)]
        net: u8,
        /// Longest wait (ms) for B after A's answer; longer counts as not converged.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Time between probes of B (ms).
        #[arg(long, default_value_t = 1)]
        poll_ms: u64,
        /// Writes not started after this many seconds are skipped.
        #[arg(long, default_value_t = 75.0)]
        budget: f64,
        /// Write one unmeasured route first and wait until B has it.
        #[arg(long)]
        warmup: bool,
        /// Append `run<TAB>key<TAB>value` lines to this file.
        #[arg(long)]
        results: Option<PathBuf>,
        /// Write one line per write to this file (outcome, admin and convergence ms).
        #[arg(long)]
        samples: Option<PathBuf>,
        /// Afterwards delete this run's routes through this etcd member's JSON gateway (e.g.
        /// http://127.0.0.1:2379) and wait until B stops proxying them.
        #[arg(long)]
        clear_etcd: Option<String>,
        /// The gateways' `deployment.etcd.prefix`.
        #[arg(long, default_value = "/apisix")]
        etcd_prefix: String,
    },
    /// Reads `gwbench fleet --results` lines and prints the convergence table; with
    /// `--strict`, exits 1 when a target is missed.
    FleetReport {
        results: PathBuf,
        #[arg(long)]
        strict: bool,
    },
    /// Waits until the given etcd members agree on a leader among them and prints its endpoint.
    EtcdLeader {
        /// A member's client URL (repeat for each member).
        #[arg(long = "endpoint", required = true)]
        endpoints: Vec<String>,
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Prints `count` free loopback ports (below the ephemeral range), space-separated.
    FreePorts {
        #[arg(long)]
        count: usize,
    },
    /// The soak run of scripts/soak.sh: held connections, churn, bulk flows and UDP sessions
    /// through a running gateway, sampled; exits 1 when a check fails.
    Soak(SoakArgs),
    /// TLS 1.3 handshakes per second: connect, handshake, 32 B echo, read to the end, on
    /// `concurrency` loops; with `--resume` each loop offers its previous session's ticket.
    TlsRate {
        #[arg(long)]
        target: SocketAddr,
        /// The SNI the client sends.
        #[arg(long, default_value = "bench.test")]
        sni: String,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        #[arg(long)]
        resume: bool,
    },
    /// TLS bulk download: reads `streams` TLS connections at once (their upstream is
    /// `gwbench source`) and prints the rate.
    TlsBulk {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value = "bench.test")]
        sni: String,
        #[arg(long, default_value_t = 4)]
        streams: usize,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
    },
    /// TCP server writing endlessly to every connection (reads are dropped).
    Source {
        #[arg(long)]
        tcp: SocketAddr,
    },
    /// TLS 1.3 echo server with the PEM certificate chain `cert` and key `key`.
    TlsEcho {
        #[arg(long)]
        tcp: SocketAddr,
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// Close each connection after its first echo.
        #[arg(long)]
        once: bool,
    },
}

/// `gwbench soak`'s options (see docs/soak.md).
#[derive(clap::Args)]
struct SoakArgs {
    /// The gateway's process id (its RSS and fds are read from /proc).
    #[arg(long)]
    gateway_pid: u32,
    /// The gateway's Control API, e.g. http://127.0.0.1:9090.
    #[arg(long)]
    control: String,
    /// The gateway's Prometheus export, e.g. http://127.0.0.1:9091/apisix/prometheus/metrics.
    #[arg(long)]
    metrics: String,
    /// TCP listener for held connections (routed to an echo server).
    #[arg(long)]
    held: SocketAddr,
    /// TCP listener for churn (routed to `gwbench echo --once`).
    #[arg(long)]
    churn: SocketAddr,
    /// TCP listener for bulk flows (routed to an echo server).
    #[arg(long)]
    bulk: SocketAddr,
    /// UDP listener (routed to a UDP echo server).
    #[arg(long)]
    udp: SocketAddr,
    /// Stream routes the Control API must list before the run starts.
    #[arg(long, default_value_t = 4)]
    routes: usize,
    /// Held connections.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Seconds between two echoes on one held connection.
    #[arg(long, default_value_t = 10.0)]
    held_echo_secs: f64,
    /// New connections per second (0: none).
    #[arg(long, default_value_t = 500.0)]
    churn_rate: f64,
    /// Bulk flows.
    #[arg(long, default_value_t = 4)]
    bulk_flows: usize,
    /// Bytes per second per bulk flow.
    #[arg(long, default_value_t = 4_000_000.0)]
    bulk_rate: f64,
    /// Bytes per bulk connection (then the flow opens the next one).
    #[arg(long, default_value_t = 64 << 20)]
    bulk_conn_bytes: u64,
    /// UDP sessions.
    #[arg(long, default_value_t = 64)]
    udp_sessions: usize,
    /// Seconds between two datagrams of one UDP session.
    #[arg(long, default_value_t = 1.0)]
    udp_secs: f64,
    /// Minutes of load after the held connections are open.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Warm-up rounds (ramp, load, close) before the baseline is taken (0: the baseline is the
    /// gateway before any load).
    #[arg(long, default_value_t = 3)]
    warmup_rounds: usize,
    /// Seconds of load in each warm-up round once its held connections are open.
    #[arg(long, default_value_t = 10.0)]
    warmup_secs: f64,
    /// Seconds between two samples.
    #[arg(long, default_value_t = 10.0)]
    sample_secs: f64,
    /// Longest wait for the gateway's sessions to end after the load.
    #[arg(long, default_value_t = 120.0)]
    drain_secs: f64,
    /// Longest wait for RSS and fds to come back once the sessions ended.
    #[arg(long, default_value_t = 60.0)]
    settle_secs: f64,
    /// How far above the baseline RSS and fds may stay (0.05 = 5 %).
    #[arg(long, default_value_t = soak::TOLERANCE)]
    tolerance: f64,
    /// Where soak.csv, soak.svg and summary.txt are written.
    #[arg(long)]
    out: PathBuf,
}

impl SoakArgs {
    fn plan(self) -> soak::SoakPlan {
        let secs = Duration::from_secs_f64;
        soak::SoakPlan {
            gateway_pid: self.gateway_pid,
            control_url: self.control,
            metrics_url: self.metrics,
            held: self.held,
            churn: self.churn,
            bulk: self.bulk,
            udp: self.udp,
            routes: self.routes,
            conns: self.conns,
            held_echo_every: secs(self.held_echo_secs),
            churn_rate: self.churn_rate,
            bulk_flows: self.bulk_flows,
            bulk_rate: self.bulk_rate,
            bulk_conn_bytes: self.bulk_conn_bytes,
            udp_sessions: self.udp_sessions,
            udp_every: secs(self.udp_secs),
            duration: secs(self.minutes * 60.0),
            warmup_rounds: self.warmup_rounds,
            warmup: secs(self.warmup_secs),
            sample_every: secs(self.sample_secs),
            drain_timeout: secs(self.drain_secs),
            settle: secs(self.settle_secs),
            tolerance: self.tolerance,
            out_dir: self.out,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Report { results } = &cli.command {
        let text = std::fs::read_to_string(results)
            .with_context(|| format!("cannot read {}", results.display()))?;
        print!("{}", report::render(&text));
        return Ok(());
    }
    if let Command::FleetReport { results, strict } = &cli.command {
        let text = std::fs::read_to_string(results)
            .with_context(|| format!("cannot read {}", results.display()))?;
        let (table, met) = fleet::report::render(&text);
        print!("{table}");
        if *strict && !met {
            // Exit 1 without an error chain: the table above says which target.
            eprintln!("gwbench: a fleet convergence target was missed (--strict)");
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Command::FreePorts { count } = &cli.command {
        let ports = ports::free(*count)?;
        let text: Vec<String> = ports.iter().map(u16::to_string).collect();
        println!("{}", text.join(" "));
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Echo { tcp, udp, once } => echo::serve(tcp, udp, once).await,
            Command::Connrate {
                target,
                concurrency,
                seconds,
            } => load::connrate(target, concurrency, Duration::from_secs_f64(seconds)).await,
            Command::Idle {
                target,
                count,
                ready_file,
            } => load::idle(target, count, &ready_file).await,
            Command::Flows {
                target,
                flows,
                size,
                seconds,
            } => flows::run(target, flows, size, Duration::from_secs_f64(seconds)).await,
            Command::Udp {
                target,
                seconds,
                window,
                size,
            } => udp::rate(target, Duration::from_secs_f64(seconds), window, size).await,
            Command::Routes {
                admin,
                key,
                count,
                port,
                upstream,
            } => routes::create(admin, &key, count, port, upstream).await,
            Command::Fleet {
                admin,
                key,
                probe,
                upstream,
                run,
                writes,
                net,
                timeout_ms,
                poll_ms,
                budget,
                warmup,
                results,
                samples,
                clear_etcd,
                etcd_prefix,
            } => {
                fleet::run(fleet::FleetRun {
                    admin,
                    key,
                    probe,
                    upstream,
                    writes,
                    net,
                    run,
                    timeout: Duration::from_millis(timeout_ms),
                    poll: Duration::from_millis(poll_ms),
                    budget: Duration::from_secs_f64(budget),
                    warmup,
                    results,
                    samples,
                    clear_etcd,
                    etcd_prefix,
                })
                .await
            }
            Command::EtcdLeader { endpoints, timeout } => {
                let leader =
                    fleet::etcd::wait_leader(&endpoints, Duration::from_secs_f64(timeout)).await?;
                println!("{leader}");
                Ok(())
            }
            Command::Soak(args) => {
                if !soak::run(&args.plan()).await? {
                    // The checks above say which failed.
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::TlsRate {
                target,
                sni,
                concurrency,
                seconds,
                resume,
            } => {
                tls::rate::handshakes(tls::rate::RatePlan {
                    target,
                    sni,
                    concurrency,
                    duration: Duration::from_secs_f64(seconds),
                    resume,
                })
                .await
            }
            Command::TlsBulk {
                target,
                sni,
                streams,
                seconds,
            } => tls::bulk::download(target, &sni, streams, Duration::from_secs_f64(seconds)).await,
            Command::Source { tcp } => tls::server::source(tcp).await,
            Command::TlsEcho {
                tcp,
                cert,
                key,
                once,
            } => tls::server::tls_echo(tcp, &cert, &key, once).await,
            Command::Report { .. } | Command::FleetReport { .. } | Command::FreePorts { .. } => {
                Ok(())
            }
        }
    })
}
