//! The command line: global options and the command tree (clap derive). Parsing only; the
//! handlers live in `crate::commands`, and `crate::context` resolves the global options
//! (environment fallbacks, the admin key file) into a validated [`crate::context::Ctx`].

pub mod resource;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use resource::{
    BodyFile, CommonAction, MetaFlags, MetadataAction, NodeFlags, ObjectFlags, PluginsAction,
    ServiceAction, ServiceFlags, SslAction, SslFlags, StreamRouteAction, StreamRouteFlags,
    TestArgs, UpstreamAction, UpstreamFlags, WriteAction,
};

const AFTER_HELP: &str = "\
Admin key lookup (first found wins): --admin-key, $APISIX_ADMIN_KEY, $ADC_TOKEN, the file
./conf/admin_key, then $APISIX_PREFIX/conf/admin_key (the key the gateway generates at first
start when config.yaml sets none). Server: --server, $APISIX_ADMIN_URL, $ADC_SERVER, default
http://127.0.0.1:9180. A context of the config file (`apisixctl config use-context NAME`) comes
after flags and environment variables, before the key file and the defaults.

TLS (https:// URLs, Admin and Control alike): --ca-cert-file ($ADC_CA_CERT_FILE) trusts only
that CA; without it the system CAs and the gateway's generated ./conf/admin_ssl.crt (then
$APISIX_PREFIX/conf/admin_ssl.crt) are trusted. --tls-client-cert-file and
--tls-client-key-file ($ADC_TLS_CLIENT_CERT_FILE, $ADC_TLS_CLIENT_KEY_FILE) for mutual TLS;
--tls-skip-verify ($ADC_TLS_SKIP_VERIFY=true) accepts any certificate. A certificate problem
exits 1 with one line: unknown issuer, name mismatch, expired, client certificate required.

Exit codes:
  0  success (diff: in sync)
  1  error: server error (printed as `error: <status> <error_msg>`), server unreachable,
     invalid file, failed validation, failed route test; diff: differences found
  2  usage error (bad flags); diff: an error occurred";

/// `apisixctl`: manage the gateway's stream routes, upstreams, services and SSLs through its
/// Admin API, and watch it through its Control API.
#[derive(Debug, Parser)]
#[command(name = "apisixctl", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Admin API URL [env: APISIX_ADMIN_URL, ADC_SERVER] [default: http://127.0.0.1:9180]
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Admin API key (X-API-KEY) [env: APISIX_ADMIN_KEY, ADC_TOKEN; else ./conf/admin_key]
    #[arg(long, global = true, value_name = "KEY")]
    pub admin_key: Option<String>,
    /// Control API URL [env: APISIX_CONTROL_URL] [default: http://127.0.0.1:9090]
    #[arg(long, global = true, value_name = "URL")]
    pub control: Option<String>,
    /// Output format: tables for people, json/yaml for scripts
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Timeout of each request, e.g. 10, 10s, 500ms
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Do not colour output (also when $NO_COLOR is set or stdout is not a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Config file with named contexts [default: $XDG_CONFIG_HOME/apisixctl/config.yaml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Context of the config file to use instead of its current-context
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    #[command(flatten)]
    pub tls: crate::config::TlsValues,
}

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream routes: list, get, put, create, delete, edit, test
    #[command(name = "stream-route", visible_aliases = ["stream-routes", "sr"], alias = "stream_routes")]
    StreamRoute {
        #[command(subcommand)]
        action: StreamRouteAction,
    },
    /// Upstreams: list, get, put, create, patch, delete, edit
    #[command(visible_alias = "upstreams")]
    Upstream {
        #[command(subcommand)]
        action: UpstreamAction,
    },
    /// Services: list, get, put, create, patch, delete, edit
    #[command(visible_alias = "services")]
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// SSL certificates: list, get, put, create, patch, delete, edit
    #[command(visible_alias = "ssls")]
    Ssl {
        #[command(subcommand)]
        action: SslAction,
    },
    /// Plugin metadata (per plugin name): list, get, put, delete, edit
    #[command(
        name = "plugin-metadata",
        visible_alias = "plugin-metadatas",
        alias = "plugin_metadata"
    )]
    PluginMetadata {
        #[command(subcommand)]
        action: MetadataAction,
    },
    /// Enabled stream plugins and their schemas
    #[command(visible_alias = "plugin")]
    Plugins {
        #[command(subcommand)]
        action: PluginsAction,
    },
    /// Create or update every object in the files (never deletes)
    Apply(FilesArgs),
    /// Show how the files differ from the server (exit 0 in sync, 1 differences, 2 error)
    Diff(FilesArgs),
    /// Make the server match the files (deletes only with --prune, within --selector)
    Sync(SyncArgs),
    /// Print the server's objects as an APISIX standalone file (conf/apisix.yaml)
    Dump(DumpArgs),
    /// Check files locally, printing every error with its path
    Validate(FilesArgs),
    /// Ask the gateway which stream route would take a connection
    Match(MatchArgs),
    /// Live connections: list (optionally watching), kill
    #[command(visible_aliases = ["connection", "conns"])]
    Connections {
        #[command(subcommand)]
        action: ConnectionsAction,
    },
    /// Health of upstream nodes (active/passive checks) and the DNS answer of node names
    Health,
    /// The gateway's status: version, uptime, store, listeners
    Status,
    /// Check that the Admin and Control APIs answer (and that the key is accepted)
    Ping,
    /// Named contexts (server, admin key, control URL) in the config file
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a shell completion script
    Completion {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Write the man pages and shell completions under DIR (for packaging)
    #[command(hide = true)]
    GenerateDocs { dir: PathBuf },
    /// Run the terminal dashboard (apisix-tui next to this binary) with the same options
    Dashboard {
        /// Extra arguments for apisix-tui (after --)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `config ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// List the contexts (`*` marks the current one)
    #[command(name = "get-contexts")]
    GetContexts,
    /// Make NAME the current context
    #[command(name = "use-context")]
    UseContext {
        /// Context name
        name: String,
    },
    /// Create or update context NAME from the global --server, --admin-key and --control
    #[command(name = "set-context")]
    SetContext {
        /// Context name
        name: String,
    },
    /// Print the current context's name
    #[command(name = "current-context")]
    CurrentContext,
    /// Delete context NAME
    #[command(name = "delete-context")]
    DeleteContext {
        /// Context name
        name: String,
    },
}

/// `-f FILE...` of the declarative commands.
#[derive(Debug, Clone, Args)]
pub struct FilesArgs {
    /// APISIX standalone files (YAML or JSON; `-` for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
}

/// `sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub files: FilesArgs,
    /// Delete server objects that are not in the files (only those matching --selector)
    #[arg(long)]
    pub prune: bool,
    /// Only prune objects whose labels match, e.g. team=core,env=prod
    #[arg(long, short = 'l', value_name = "K=V[,K=V]")]
    pub selector: Option<String>,
    /// Print what would change without writing
    #[arg(long)]
    pub dry_run: bool,
}

/// `dump`.
#[derive(Debug, Clone, Args)]
pub struct DumpArgs {
    /// Write to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Only objects whose labels match, e.g. team=core
    #[arg(long, short = 'l', value_name = "K=V[,K=V]")]
    pub selector: Option<String>,
}

/// `match`.
#[derive(Debug, Clone, Args)]
pub struct MatchArgs {
    /// Client address, IP[:PORT]
    #[arg(long, value_name = "IP[:PORT]")]
    pub client: String,
    /// The gateway port the connection arrives on
    #[arg(long, value_name = "N")]
    pub server_port: u16,
    /// The gateway address the connection arrives on
    #[arg(long, value_name = "IP")]
    pub server_addr: Option<String>,
    /// TLS server name
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// tcp or udp
    #[arg(long, value_name = "PROTO")]
    pub protocol: Option<String>,
}

/// `connections ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConnectionsAction {
    /// List live connections
    #[command(visible_alias = "ls")]
    List {
        /// Only connections of this stream route
        #[arg(long, value_name = "ID")]
        route: Option<String>,
        /// Only connections to this upstream node (host:port)
        #[arg(long, value_name = "NODE")]
        upstream: Option<String>,
        /// Only connections from this client (IP[:PORT])
        #[arg(long, value_name = "ADDR")]
        client: Option<String>,
        /// Refresh until interrupted
        #[arg(long, short = 'w')]
        watch: bool,
        /// Refresh interval with --watch
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Close one live connection
    Kill {
        /// Connection id (from `connections list`)
        id: String,
    },
}

/// Parses `10`, `10s`, `500ms`, `2m` into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 10s, 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration unit {unit:?}: use ms, s or m")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("invalid duration {text:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn singular_plural_and_short_names_parse() {
        for name in ["stream-route", "stream-routes", "sr"] {
            let cli = Cli::try_parse_from(["apisixctl", name, "list"]).expect("parses");
            assert!(matches!(cli.command, Command::StreamRoute { .. }));
        }
        let cli = Cli::try_parse_from(["apisixctl", "upstreams", "get", "1", "-o", "json"])
            .expect("parses");
        assert_eq!(cli.global.output, OutputFormat::Json);
    }
}
