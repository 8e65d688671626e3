//! [`AddrRule`]: one `remote_addr` / `server_addr` condition of a stream route, compiled from
//! the stored text with [`crate::ip::parse_cidr_or_ip`]. The router checks connections with
//! [`AddrRule::matches`]; the shadow analysis compares rules with [`AddrRule::covers`], which
//! reads the same semantics (an IPv4-mapped IPv6 address is its IPv4 address; an IPv6 network
//! also takes the IPv4 addresses whose mapped form it contains).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::ip::IpRule;

/// One address condition: an IP, a CIDR, or a value that never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrRule {
    /// A single address (`10.0.0.1`, `::1`), in canonical form (IPv4-mapped IPv6 → IPv4).
    Ip(IpAddr),
    /// A network (`10.0.0.0/8`) with its host bits cleared, and the text as written.
    Net(IpNet, String),
    /// A value that is neither: validation should have refused it, so it matches nothing.
    Invalid(String),
}

/// The addresses a condition takes, as two networks: the IPv4 addresses (compared in canonical
/// form) and the IPv6 network whose non-mapped addresses it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddrSet {
    pub(crate) v4: Option<Ipv4Net>,
    pub(crate) v6: Option<Ipv6Net>,
}

/// `::ffff:0:0/96`, the IPv4-mapped range.
fn mapped_range() -> Ipv6Net {
    Ipv6Net::new(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped(), 96).expect("96 is a valid prefix")
}

impl AddrSet {
    /// Every address: what an unset condition takes.
    pub(crate) const ANY: AddrSet = AddrSet {
        v4: Some(Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0)),
        v6: Some(Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 0)),
    };

    /// The set of an unset (`None`) or set condition.
    pub(crate) fn of(rule: Option<&AddrRule>) -> AddrSet {
        match rule {
            None => AddrSet::ANY,
            Some(AddrRule::Ip(IpAddr::V4(a))) => AddrSet {
                v4: Some(Ipv4Net::from(*a)),
                v6: None,
            },
            Some(AddrRule::Ip(IpAddr::V6(a))) => AddrSet {
                v4: None,
                v6: Some(Ipv6Net::from(*a)),
            },
            Some(AddrRule::Net(IpNet::V4(n), _)) => AddrSet {
                v4: Some(*n),
                v6: None,
            },
            Some(AddrRule::Net(IpNet::V6(n), _)) => AddrSet {
                v4: mapped_part(n),
                v6: Some(*n),
            },
            Some(AddrRule::Invalid(_)) => AddrSet { v4: None, v6: None },
        }
    }

    /// Whether the set is empty (an invalid rule).
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_none()
    }

    /// Whether every address of `other` is in this set. Exact for the IPv4 part; for the IPv6
    /// part it answers by network containment, which may say `false` for an `other` whose
    /// network lies wholly inside the mapped range (never a wrong `true`).
    pub(crate) fn contains(&self, other: &AddrSet) -> bool {
        let v4 = match (other.v4, self.v4) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b), Some(a)) => a.contains(&b),
        };
        let v6 = match (other.v6, self.v6) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b), Some(a)) => a.contains(&b),
        };
        v4 && v6
    }
}

/// The IPv4 addresses an IPv6 network takes through their mapped form.
fn mapped_part(n: &Ipv6Net) -> Option<Ipv4Net> {
    let mapped = mapped_range();
    if n.contains(&mapped) {
        return Some(Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0));
    }
    if mapped.contains(n) {
        let v4 = n.network().to_ipv4_mapped()?;
        return Ipv4Net::new(v4, n.prefix_len() - 96).ok();
    }
    None
}

impl AddrRule {
    /// Parses `IP` or `IP/prefix`; anything else is [`AddrRule::Invalid`].
    pub fn parse(text: &str) -> AddrRule {
        match crate::ip::parse_cidr_or_ip(text) {
            Some(IpRule::Addr(ip)) => AddrRule::Ip(ip.to_canonical()),
            Some(IpRule::Net(net)) => AddrRule::Net(net.trunc(), text.to_owned()),
            None => AddrRule::Invalid(text.to_owned()),
        }
    }

    /// Whether `ip` satisfies the rule. An IPv4-mapped IPv6 address is treated as IPv4, and an
    /// IPv4 address also matches IPv6 rules written in the `::ffff:a.b.c.d` form.
    #[inline]
    pub fn matches(&self, ip: IpAddr) -> bool {
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

    /// Whether every address `other` matches, this rule matches too (`None` is "any
    /// address"). Never a wrong `true`; see [`AddrSet::contains`].
    pub fn covers(this: Option<&AddrRule>, other: Option<&AddrRule>) -> bool {
        AddrSet::of(this).contains(&AddrSet::of(other))
    }
}

impl fmt::Display for AddrRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrRule::Ip(ip) => write!(f, "{ip}"),
            AddrRule::Net(_, text) | AddrRule::Invalid(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> AddrRule {
        AddrRule::parse(text)
    }

    fn covers(a: &str, b: &str) -> bool {
        AddrRule::covers(Some(&rule(a)), Some(&rule(b)))
    }

    #[test]
    fn networks_cover_their_subnets_and_addresses() {
        assert!(covers("10.0.0.0/8", "10.1.0.0/16"));
        assert!(covers("10.0.0.0/8", "10.2.3.4"));
        assert!(covers("10.0.0.1", "10.0.0.1/32"));
        assert!(!covers("10.1.0.0/16", "10.0.0.0/8"));
        assert!(!covers("10.0.0.0/8", "11.0.0.1"));
        assert!(covers("2001:db8::/32", "2001:db8:1::/48"));
        assert!(!covers("10.0.0.0/8", "2001:db8::1"));
    }

    #[test]
    fn mapped_ipv6_rules_cover_ipv4_as_the_router_matches_them() {
        assert!(covers("::ffff:10.0.0.0/104", "10.1.2.3"));
        assert!(rule("::ffff:10.0.0.0/104").matches("10.1.2.3".parse().expect("ip")));
        assert!(covers("::/0", "10.0.0.0/8"));
        assert!(AddrRule::covers(Some(&rule("::/0")), None));
        assert!(!AddrRule::covers(Some(&rule("0.0.0.0/0")), None));
        assert!(covers("::ffff:10.0.0.1", "10.0.0.1"));
        assert!(!covers("10.0.0.0/8", "::ffff:11.0.0.0/104"));
    }

    #[test]
    fn unset_covers_everything_and_invalid_nothing() {
        assert!(AddrRule::covers(None, Some(&rule("10.0.0.1"))));
        assert!(!covers("bogus", "10.0.0.1"));
        assert!(!AddrRule::covers(Some(&rule("10.0.0.1")), None));
    }
}
