//! What is known of a connection when it is routed: its transport and addresses
//! ([`ConnInfo`]). A leaf: the router, the balancer, the plugins and the data path all read it.

use std::net::SocketAddr;

/// Transport of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// What the router knows about a new connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client (`$remote_addr`, possibly from a PROXY protocol header).
    pub remote: SocketAddr,
    /// The local address that accepted it (`$server_addr`, `$server_port`).
    pub local: SocketAddr,
    /// The TLS SNI (lowercase, no trailing dot), or `fallback_sni`. Other spellings are
    /// normalized by the router too.
    pub sni: Option<String>,
    pub transport: Transport,
}
