//! A route's address conditions (`remote_addr`, `server_addr`, `server_port`), compiled once
//! from the stored strings, checked without allocating on the hot path, and explained in words
//! for `/v1/match`.

use std::net::IpAddr;

use ipnet::IpNet;
use model::ip::IpRule;

use crate::conn::ConnInfo;

/// One `remote_addr` / `server_addr` rule: an IP, a CIDR, or a value that never matches.
#[derive(Debug, Clone)]
pub(crate) enum AddrRule {
    /// A single address (`10.0.0.1`, `::1`).
    Ip(IpAddr),
    /// A network (`10.0.0.0/8`); host bits are cleared.
    Net(IpNet, String),
    /// A value that is neither: validation should have rejected it, so it matches nothing.
    Invalid(String),
}

impl AddrRule {
    /// Parses `IP` or `IP/prefix` with the parser the Admin API validates with
    /// ([`model::ip::parse_cidr_or_ip`]).
    pub(crate) fn parse(text: &str) -> AddrRule {
        match model::ip::parse_cidr_or_ip(text) {
            Some(IpRule::Addr(ip)) => AddrRule::Ip(ip.to_canonical()),
            Some(IpRule::Net(net)) => AddrRule::Net(net.trunc(), text.to_owned()),
            None => AddrRule::Invalid(text.to_owned()),
        }
    }

    /// Whether `ip` satisfies the rule. An IPv4-mapped IPv6 address is treated as IPv4, and an
    /// IPv4 address also matches IPv6 rules written in the `::ffff:a.b.c.d` form.
    pub(crate) fn matches(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match self {
            AddrRule::Ip(rule) => *rule == ip,
            AddrRule::Net(net, _) => {
                net.contains(&ip)
                    || match (net, ip) {
                        (IpNet::V6(net6), IpAddr::V4(v4)) => net6.contains(&v4.to_ipv6_mapped()),
                        _ => false,
                    }
            }
            AddrRule::Invalid(_) => false,
        }
    }

    /// The reason `ip` fails the rule, prefixed with the field name.
    fn failure(&self, field: &str, ip: IpAddr) -> String {
        let ip = ip.to_canonical();
        match self {
            AddrRule::Ip(rule) => format!("{field}: {ip} does not equal {rule}"),
            AddrRule::Net(_, text) => format!("{field}: {ip} is not in {text}"),
            AddrRule::Invalid(text) => format!("{field}: invalid rule {text:?} never matches"),
        }
    }
}

/// The address conditions of one route; an unset condition always holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub(crate) remote_addr: Option<AddrRule>,
    pub(crate) server_addr: Option<AddrRule>,
    pub(crate) server_port: Option<u16>,
}

impl Conditions {
    /// Compiles the conditions of a stored route.
    pub(crate) fn of(route: &model::types::StreamRoute) -> Conditions {
        Conditions {
            remote_addr: route.remote_addr.as_deref().map(AddrRule::parse),
            server_addr: route.server_addr.as_deref().map(AddrRule::parse),
            server_port: route.server_port,
        }
    }

    /// Whether every condition holds for `conn` (no allocation).
    #[inline]
    pub(crate) fn matches(&self, conn: &ConnInfo) -> bool {
        if let Some(port) = self.server_port {
            if port != conn.local.port() {
                return false;
            }
        }
        if let Some(rule) = &self.remote_addr {
            if !rule.matches(conn.remote.ip()) {
                return false;
            }
        }
        if let Some(rule) = &self.server_addr {
            if !rule.matches(conn.local.ip()) {
                return false;
            }
        }
        true
    }

    /// The first failed condition in the order `remote_addr`, `server_addr`, `server_port`,
    /// or `None` when all hold.
    pub(crate) fn failure(&self, conn: &ConnInfo) -> Option<String> {
        if let Some(rule) = &self.remote_addr {
            if !rule.matches(conn.remote.ip()) {
                return Some(rule.failure("remote_addr", conn.remote.ip()));
            }
        }
        if let Some(rule) = &self.server_addr {
            if !rule.matches(conn.local.ip()) {
                return Some(rule.failure("server_addr", conn.local.ip()));
            }
        }
        match self.server_port {
            Some(port) if port != conn.local.port() => Some(format!(
                "server_port: {} does not equal {port}",
                conn.local.port()
            )),
            _ => None,
        }
    }
}
