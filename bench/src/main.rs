//! `gwbench`: the small load tools behind `make bench` (see docs/bench.md).
//!
//! Every tool runs on one `current_thread` runtime so that `taskset -c 0` pins it to one core.
//! Results are printed as `key=value` lines on stdout for scripts/bench.sh to collect.

mod echo;
mod load;
mod report;
mod routes;
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Report { results } = &cli.command {
        let text = std::fs::read_to_string(results)
            .with_context(|| format!("cannot read {}", results.display()))?;
        print!("{}", report::render(&text));
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
            Command::Report { .. } => Ok(()),
        }
    })
}
