//! The `apisix-gateway` binary: parses arguments, sets up logging and hands over to the
//! library. Exit codes: 0 success, 1 invalid configuration or runtime failure, 2 usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use apisix_gateway::config::{Config, LineFormat, LogSettings};
use apisix_gateway::logging;
use apisix_gateway::server::{self, pidfile};
use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;

/// An Apache APISIX-compatible L4 (TCP/UDP) gateway.
#[derive(Debug, Parser)]
#[command(name = "apisix-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// The configuration file (default: <prefix>/conf/config.yaml).
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// The prefix directory (parent of conf/, logs/, data/; default: derived from -c, else .).
    #[arg(short = 'p', long = "prefix", global = true)]
    prefix: Option<PathBuf>,
    /// Log level or filter (overrides RUST_LOG and nginx_config.error_log_level), e.g.
    /// `debug` or `apisix_gateway=trace`.
    #[arg(long = "log-level", global = true)]
    log_level: Option<String>,
    /// Log line format of the error log and the access log (overrides apisix.log_format).
    #[arg(long = "log-format", global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway in the foreground (the default).
    Start,
    /// Validate the configuration: problems go to stderr, one per line; exit 0 or 1.
    Test,
    /// Tell the running instance to reload its configuration (SIGHUP).
    Reload,
    /// Tell the running instance to drain and stop (SIGTERM).
    Stop,
    /// Print the version.
    Version,
    /// Write the man pages and shell completions under DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs { dir: PathBuf },
}

impl Common {
    /// `-p`, else the parent of the config file's `conf/` directory, else `.`.
    fn prefix(&self) -> PathBuf {
        if let Some(prefix) = &self.prefix {
            return prefix.clone();
        }
        let conf_dir = self.config.as_deref().and_then(Path::parent);
        match conf_dir {
            Some(dir) if dir.file_name().is_some_and(|n| n == "conf") => dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            _ => PathBuf::from("."),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.prefix().join("conf").join("config.yaml"))
    }

    /// The log filter given on the command line or in `RUST_LOG`, if any.
    fn log_filter(&self) -> Option<String> {
        self.log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty()))
    }

    /// The commands other than `start` log to stderr as text, at `info` unless told otherwise.
    fn init_command_log(&self) -> Option<logging::LogGuard> {
        let filter = self.log_filter().unwrap_or_else(|| "info".to_owned());
        logging::init(&LogSettings::default(), Some(&filter)).ok()
    }
}

/// Loads the config, printing each problem on its own line; returns it with its warnings.
fn load_quietly(common: &Common) -> Option<(Config, Vec<String>)> {
    let path = common.config_path();
    match apisix_gateway::config::load(&path, common.prefix.as_deref()) {
        Ok(loaded) => Some(loaded),
        Err(errors) => {
            for problem in errors.messages {
                eprintln!("{problem}");
            }
            None
        }
    }
}

/// Loads the config, logging its warnings.
fn load(common: &Common) -> Option<Config> {
    let (config, warnings) = load_quietly(common)?;
    log_warnings(&config, warnings);
    Some(config)
}

fn log_warnings(config: &Config, warnings: Vec<String>) {
    for warning in warnings {
        tracing::warn!(config = %config.path.display(), "{warning}");
    }
}

fn start(common: &Common) -> anyhow::Result<ExitCode> {
    let Some((mut config, warnings)) = load_quietly(common) else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(format) = common.log_format.as_deref().and_then(LineFormat::parse) {
        config.log.force_format(format);
    }
    let _log = logging::init(&config.log, common.log_filter().as_deref())
        .context("nginx_config.error_log")?;
    log_warnings(&config, warnings);
    let layout = config.data_plane.runtime;
    let (runtime, workers) = apisix_gateway::runtime::build(layout, config.workers.processes)
        .context("cannot start the async runtime")?;
    tracing::info!(?layout, workers = config.workers.processes, "runtime");
    runtime.block_on(async {
        let events = server::signal_events().context("cannot install signal handlers")?;
        server::run(config, workers, events).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints the problem with the Admin/Control API certificate files, if any.
fn tls_files_unusable(config: &apisix_gateway::config::Config) -> bool {
    match apisix_gateway::admin::tls::ApiTlsSet::check(config) {
        Ok(()) => false,
        Err(problem) => {
            eprintln!("{problem}");
            true
        }
    }
}

fn signal(common: &Common, signal: Signal) -> anyhow::Result<ExitCode> {
    let path = pidfile::pid_file_path(&common.prefix());
    let pid = pidfile::signal_running(&path, signal)?;
    eprintln!("sent {signal} to apisix-gateway (pid {pid})");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Start);
    let _log = match command {
        Command::Start | Command::GenerateDocs { .. } => None,
        _ => cli.common.init_command_log(),
    };
    let result = match command {
        Command::Start => start(&cli.common),
        Command::Test => Ok(match load(&cli.common) {
            Some(config) if tls_files_unusable(&config) => ExitCode::FAILURE,
            Some(_) => {
                eprintln!(
                    "configuration file {} test is successful",
                    cli.common.config_path().display()
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        }),
        Command::Reload => signal(&cli.common, Signal::SIGHUP),
        Command::Stop => signal(&cli.common, Signal::SIGTERM),
        Command::Version => {
            println!("apisix-gateway {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::GenerateDocs { dir } => {
            use clap::CommandFactory;
            program_docs::write(Cli::command(), &dir)
                .map(|_| ExitCode::SUCCESS)
                .context("generate-docs")
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn prefix_is_derived_from_a_config_under_conf() {
        let cli = Cli::parse_from(["apisix-gateway", "test", "-c", "/srv/gw/conf/config.yaml"]);
        assert_eq!(cli.common.prefix(), PathBuf::from("/srv/gw"));
        let cli = Cli::parse_from(["apisix-gateway", "-p", "/x", "stop"]);
        assert_eq!(cli.common.prefix(), PathBuf::from("/x"));
        assert_eq!(
            cli.common.config_path(),
            PathBuf::from("/x/conf/config.yaml")
        );
    }
}
