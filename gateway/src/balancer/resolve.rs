//! Where a node connects to: an IP literal as it is, a host name through its record in the
//! gateway's DNS client ([`crate::dns`]), and the names' current answers for the Control API.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use model::control::DnsName;

use super::{NodeAddr, UpstreamRuntime};

impl UpstreamRuntime {
    /// The socket addresses of `node`: its IP, or the current answer for its name (see
    /// [`crate::dns::TrackedName::addresses`]; only a name's first lookup is waited for).
    pub async fn resolve(&self, node: &NodeAddr) -> std::io::Result<Vec<SocketAddr>> {
        let host = node.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, node.port)]);
        }
        let name = match self.node(node).and_then(|n| n.name.clone()) {
            Some(name) => name,
            None => self.dns.track(host),
        };
        let ips = name.addresses().await?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, node.port))
            .collect())
    }

    /// Each node host that is a name, once, in configuration order, as resolved now.
    pub fn dns_names(&self) -> Vec<DnsName> {
        let now = Instant::now();
        let mut seen = HashSet::new();
        self.nodes
            .iter()
            .filter_map(|n| n.name.as_ref())
            .filter(|name| seen.insert(name.host().to_owned()))
            .map(|name| name.view(now))
            .collect()
    }
}
