//! `GET /v1/match`: which stream route would take a described connection, and why each other
//! route does not.

use serde::{Deserialize, Serialize};

/// The answer of `GET /v1/match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchReport {
    /// The id of the route that takes the connection; `None` when no route does.
    #[serde(deserialize_with = "super::opt_id")]
    pub matched: Option<String>,
    /// The connection asked about, with defaults filled in.
    pub input: MatchInput,
    /// Every route in evaluation order (SNI routes first).
    pub routes: Vec<RouteVerdict>,
    /// Why such a connection may still fail (no listener, no upstream, no SNI on the port...).
    pub warnings: Vec<String>,
}

/// The connection of a [`MatchReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchInput {
    /// Client `ip:port` (port 0 for a bare IP).
    pub client: String,
    /// The gateway address reached (the listener's, or 127.0.0.1 for a wildcard).
    pub server_addr: String,
    /// The gateway port reached.
    pub server_port: u16,
    /// The SNI given, if any.
    pub sni: Option<String>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// One route's verdict in a [`MatchReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteVerdict {
    /// Route id.
    #[serde(deserialize_with = "super::id_or_empty")]
    pub id: String,
    /// Whether this route takes the connection.
    pub matched: bool,
    /// Why it does not (`server_port: 9100 does not equal 2000`, `not reached: ...`).
    pub reason: Option<String>,
    /// When the route can never match, whatever the connection: the earlier routes that take
    /// every connection it would take (`model::shadow`); empty otherwise.
    pub shadowed_by: Vec<String>,
}
