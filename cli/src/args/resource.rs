//! Per-resource subcommands (`stream-route put ...`, `upstream list`, ...) and the flags that
//! build a body without a file. Turning these flags into JSON is `crate::body`'s job.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

/// Actions every resource has.
#[derive(Debug, Clone, Subcommand)]
pub enum CommonAction {
    /// List objects
    #[command(visible_alias = "ls")]
    List {
        /// Only objects whose labels match, e.g. team=core,env=prod
        #[arg(long, short = 'l', value_name = "K=V[,K=V]")]
        selector: Option<String>,
    },
    /// Show one object
    Get { id: String },
    /// Merge a JSON/YAML body into an object (not supported by the server for stream routes)
    Patch {
        id: String,
        #[command(flatten)]
        file: BodyFile,
    },
    /// Delete an object
    #[command(visible_aliases = ["rm", "del"])]
    Delete {
        id: String,
        /// Delete even while other objects refer to it (?force=true)
        #[arg(long)]
        force: bool,
    },
    /// Edit an object in $EDITOR (YAML), check it locally, then put it
    Edit { id: String },
}

/// `-f FILE|-`: a JSON or YAML body.
#[derive(Debug, Clone, Default, Args)]
pub struct BodyFile {
    /// JSON or YAML body (`-` for stdin); flags given too override its fields
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// An upstream node from `--node host:port[=weight]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub addr: String,
    pub weight: u32,
}

impl std::str::FromStr for NodeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, weight) = match s.rsplit_once('=') {
            Some((addr, w)) => (
                addr,
                w.parse()
                    .map_err(|_| format!("invalid weight {w:?} in node {s:?}"))?,
            ),
            None => (s, 1),
        };
        let (host, port) = model::types::split_host_port(addr);
        if host.is_empty() || port.is_none() {
            return Err(format!("invalid node {s:?}: expected host:port[=weight]"));
        }
        Ok(NodeSpec {
            addr: addr.to_owned(),
            weight,
        })
    }
}

/// Parses `k=v`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("invalid {s:?}: expected key=value")),
    }
}

/// Parses `name={json}` (an empty value means `{}`).
pub fn parse_plugin(s: &str) -> Result<(String, Value), String> {
    let (name, conf) = s.split_once('=').unwrap_or((s, ""));
    if name.is_empty() {
        return Err(format!("invalid plugin {s:?}: expected name='{{json}}'"));
    }
    let conf = if conf.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(conf).map_err(|e| format!("invalid JSON for plugin {name}: {e}"))?
    };
    Ok((name.to_owned(), conf))
}

/// Flags shared by every object: name, description, labels.
#[derive(Debug, Clone, Default, Args)]
pub struct MetaFlags {
    /// Object name
    #[arg(long)]
    pub name: Option<String>,
    /// Description
    #[arg(long)]
    pub desc: Option<String>,
    /// Label key=value (repeatable)
    #[arg(long = "label", value_name = "K=V", value_parser = parse_kv)]
    pub labels: Vec<(String, String)>,
}

/// Inline upstream flags.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeFlags {
    /// Upstream node host:port[=weight] (repeatable; weight defaults to 1)
    #[arg(long = "node", value_name = "HOST:PORT[=W]")]
    pub nodes: Vec<NodeSpec>,
    /// Balancer: roundrobin, chash, least_conn, ewma
    #[arg(long = "type", value_name = "TYPE")]
    pub lb_type: Option<String>,
}

/// The flags every route, service and upstream body takes: `-f`, name, description, labels and
/// the nodes (of the inline upstream, or of the upstream itself).
#[derive(Debug, Clone, Default, Args)]
pub struct ObjectFlags {
    #[command(flatten)]
    pub file: BodyFile,
    #[command(flatten)]
    pub meta: MetaFlags,
    #[command(flatten)]
    pub upstream: NodeFlags,
}

/// What a stream route or a service attaches: an upstream by id, and plugins.
#[derive(Debug, Clone, Default, Args)]
pub struct AttachFlags {
    /// Use the upstream with this id
    #[arg(long, value_name = "ID")]
    pub upstream_id: Option<String>,
    /// Plugin name='{json}' (repeatable)
    #[arg(long = "plugin", value_name = "NAME=JSON", value_parser = parse_plugin)]
    pub plugins: Vec<(String, Value)>,
}

/// Body flags of `stream-route put|create`.
#[derive(Debug, Clone, Default, Args)]
pub struct StreamRouteFlags {
    #[command(flatten)]
    pub object: ObjectFlags,
    #[command(flatten)]
    pub attach: AttachFlags,
    /// Inherit from the service with this id
    #[arg(long, value_name = "ID")]
    pub service_id: Option<String>,
    /// Match the client address (IP or CIDR)
    #[arg(long, value_name = "CIDR")]
    pub remote_addr: Option<String>,
    /// Match the gateway address the client connected to (IP or CIDR)
    #[arg(long, value_name = "CIDR")]
    pub server_addr: Option<String>,
    /// Match the gateway port the client connected to
    #[arg(long, value_name = "PORT")]
    pub server_port: Option<u16>,
    /// Match the TLS server name (exact, *.suffix or *)
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
}

/// Body flags of `upstream put|create`.
#[derive(Debug, Clone, Default, Args)]
pub struct UpstreamFlags {
    #[command(flatten)]
    pub object: ObjectFlags,
    /// Retries on connect failure (0 disables)
    #[arg(long)]
    pub retries: Option<u32>,
    /// Deadline for retries, seconds
    #[arg(long, value_name = "SECS")]
    pub retry_timeout: Option<f64>,
    /// chash: vars or vars_combinations
    #[arg(long, value_name = "ON")]
    pub hash_on: Option<String>,
    /// chash key, e.g. remote_addr
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// tcp, udp or tls (tls: TLS to the nodes)
    #[arg(long)]
    pub scheme: Option<String>,
}

/// Body flags of `service put|create`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServiceFlags {
    #[command(flatten)]
    pub object: ObjectFlags,
    #[command(flatten)]
    pub attach: AttachFlags,
}

/// Body flags of `ssl put|create`.
#[derive(Debug, Clone, Default, Args)]
pub struct SslFlags {
    #[command(flatten)]
    pub file: BodyFile,
    /// Certificate PEM file
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Private key PEM file
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Server name (repeatable)
    #[arg(long = "sni", value_name = "NAME")]
    pub snis: Vec<String>,
    /// server (default) or client
    #[arg(long = "type", value_name = "TYPE")]
    pub ssl_type: Option<String>,
    /// Label key=value (repeatable)
    #[arg(long = "label", value_name = "K=V", value_parser = parse_kv)]
    pub labels: Vec<(String, String)>,
}

/// The actions of a resource written from flags (`upstream`, `service`, `ssl`, and most of
/// `stream-route`): the common ones, and put/create with the resource's body flags `B`.
#[derive(Debug, Clone, Subcommand)]
pub enum WriteAction<B: Args> {
    #[command(flatten)]
    Common(CommonAction),
    /// Create or replace an object (reports created, updated or unchanged)
    Put {
        id: String,
        #[command(flatten)]
        body: B,
    },
    /// Create an object with a server-generated id
    Create {
        #[command(flatten)]
        body: B,
    },
}

/// `stream-route ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum StreamRouteAction {
    #[command(flatten)]
    Write(WriteAction<StreamRouteFlags>),
    /// Connect through the gateway to a route and time it
    Test(TestArgs),
    /// Live statistics of loaded routes from the Control API
    Stats {
        /// Only this route
        id: Option<String>,
    },
}

/// `upstream ...`.
pub type UpstreamAction = WriteAction<UpstreamFlags>;

/// `service ...`.
pub type ServiceAction = WriteAction<ServiceFlags>;

/// `ssl ...`.
pub type SslAction = WriteAction<SslFlags>;

/// `plugin-metadata ...`: ids are plugin names.
#[derive(Debug, Clone, Subcommand)]
pub enum MetadataAction {
    #[command(flatten)]
    Common(CommonAction),
    /// Set a plugin's metadata (reports created, updated or unchanged)
    Put {
        /// Plugin name
        id: String,
        #[command(flatten)]
        file: BodyFile,
    },
}

/// `plugins ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum PluginsAction {
    /// Names of the enabled stream plugins
    #[command(visible_alias = "ls")]
    List,
    /// A stream plugin's schema
    Get { name: String },
}

/// `stream-route test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Stream route id
    pub id: String,
    /// Bytes to send after connecting (`\n`, `\r`, `\t` escapes are understood)
    #[arg(long)]
    pub payload: Option<String>,
    /// Fail unless the reply contains this text
    #[arg(long)]
    pub expect: Option<String>,
    /// Connections to make, one after another (a summary gives min/median/max times)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u32,
    /// Speak TLS to the listener (certificate not verified unless --ca is given)
    #[arg(long)]
    pub tls: bool,
    /// TLS server name to send (default: the route's sni)
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub sni: Option<String>,
    /// Verify the server certificate against these PEM CA certificates
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<std::path::PathBuf>,
    /// Gateway port to connect to (default: the route's server_port, else the first TCP listener)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// How long to wait for a reply
    #[arg(long, default_value = "3s", value_parser = super::parse_duration)]
    pub read_timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_spec_takes_optional_weight() {
        let n: NodeSpec = "10.0.0.1:80=5".parse().expect("valid");
        assert_eq!((n.addr.as_str(), n.weight), ("10.0.0.1:80", 5));
        let n: NodeSpec = "[::1]:81".parse().expect("valid");
        assert_eq!((n.addr.as_str(), n.weight), ("[::1]:81", 1));
    }

    #[test]
    fn node_spec_requires_a_port_and_numeric_weight() {
        assert!("10.0.0.1".parse::<NodeSpec>().is_err());
        assert!("10.0.0.1:80=x".parse::<NodeSpec>().is_err());
    }

    #[test]
    fn plugin_flag_parses_json_and_rejects_garbage() {
        let (name, conf) = parse_plugin(r#"limit-conn={"conn":1}"#).expect("valid");
        assert_eq!(name, "limit-conn");
        assert_eq!(conf["conn"], 1);
        assert_eq!(
            parse_plugin("prometheus").expect("valid").1,
            serde_json::json!({})
        );
        assert!(parse_plugin("x={bad").is_err());
    }
}
