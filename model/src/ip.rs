//! IP and CIDR parsing: [`parse_cidr_or_ip`] is the one parser of `remote_addr`, `server_addr`,
//! `ip-restriction` lists and `ipmatch` operands. The Admin API refuses at write time what it
//! cannot parse ([`validate_cidr_or_ip`]), and the data plane compiles its matchers with it, so
//! no stored rule can be silently dropped (which would fail open).
//!
//! It accepts what APISIX's `core.ip.validate_cidr_or_ip` accepts *and* its matcher can use: an
//! address as `inet_pton` writes it, optionally `/` and a decimal prefix length of 0..32 (IPv4)
//! or 0..128 (IPv6). Forms only the Lua check let through (`[::1]`, `10.0.0.0/8.0`,
//! `1.2.3.4/0x8`) are refused; APISIX's JSON schema refuses them too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Lua's `tonumber` on a decimal or hexadecimal string, surrounding spaces allowed.
pub fn lua_tonumber(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
    } else if body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && !body.is_empty()
    {
        body.parse::<f64>().ok()
    } else {
        None
    };
    value.map(|v| if neg { -v } else { v })
}

/// `ipmatcher.parse_ipv4`.
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

/// `ipmatcher.parse_ipv6`: brackets around the address are allowed.
pub fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse().ok()
}

/// An address rule: one address (`10.0.0.1`, `::1`) or a network (`10.0.0.0/8`; host bits
/// are kept as written, [`IpNet::trunc`] clears them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRule {
    /// A single address.
    Addr(IpAddr),
    /// An address with a prefix length.
    Net(IpNet),
}

impl IpRule {
    /// The network the rule covers: the address as a host network (`/32`, `/128`), or the
    /// network with its host bits cleared.
    pub fn network(self) -> IpNet {
        match self {
            IpRule::Addr(ip) => IpNet::from(ip),
            IpRule::Net(net) => net.trunc(),
        }
    }
}

/// Parses `IP` or `IP/prefix` (see the module header); `None` for anything else.
pub fn parse_cidr_or_ip(text: &str) -> Option<IpRule> {
    let Some((addr, prefix)) = text.split_once('/') else {
        return text.parse::<IpAddr>().ok().map(IpRule::Addr);
    };
    let addr = addr.parse::<IpAddr>().ok()?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix = prefix.parse::<u8>().ok()?;
    IpNet::new(addr, prefix).ok().map(IpRule::Net)
}

/// Whether `ip` is an IPv4/IPv6 address or CIDR that [`parse_cidr_or_ip`] accepts.
pub fn validate_cidr_or_ip(ip: &str) -> bool {
    parse_cidr_or_ip(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_or_ip_accepts_what_apisix_accepts() {
        for ok in [
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            "fe80::/10",
            "0.0.0.0/0",
            "::ffff:10.0.0.1/120",
        ] {
            assert!(validate_cidr_or_ip(ok), "{ok}");
        }
        for bad in [
            "[::1]",
            "[::1]/128",
            "10.0.0.0/8.0",
            "10.0.0.0/0x8",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            " 10.0.0.1",
            "10.0.0.1/",
            "/8",
            "10.0.0.0/8/8",
            ":/8",
            "1.2.3.4/33",
            "::1/129",
            "a.b.c.d",
            "1.2.3.4/",
            "256.0.0.1",
        ] {
            assert!(!validate_cidr_or_ip(bad), "{bad}");
        }
    }

    #[test]
    fn a_rule_gives_the_network_the_data_plane_matches() {
        let rule = parse_cidr_or_ip("10.1.2.3/8").expect("cidr");
        assert_eq!(rule.network().to_string(), "10.0.0.0/8");
        let host = parse_cidr_or_ip("::1").expect("ip");
        assert_eq!(host, IpRule::Addr("::1".parse().expect("ip")));
        assert_eq!(host.network().to_string(), "::1/128");
    }
}
