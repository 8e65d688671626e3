//! IP and CIDR parsing as APISIX's `core.ip.validate_cidr_or_ip` does it (inet_pton for the
//! address, a mask of 0..32 for IPv4 and 0..128 for IPv6; IPv6 may be in brackets).

use std::net::{Ipv4Addr, Ipv6Addr};

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

/// Whether `ip` is an IPv4/IPv6 address or CIDR that APISIX accepts.
pub fn validate_cidr_or_ip(ip: &str) -> bool {
    let (addr, mask) = match ip.split_once('/') {
        Some((addr, mask)) => match lua_tonumber(mask) {
            Some(m) if (0.0..=128.0).contains(&m) => (addr, m),
            _ => return false,
        },
        None => (ip, 0.0),
    };
    if parse_ipv4(addr).is_some() {
        return mask <= 32.0;
    }
    parse_ipv6(addr).is_some()
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
            "[::1]",
            "0.0.0.0/0",
        ] {
            assert!(validate_cidr_or_ip(ok), "{ok}");
        }
        for bad in [
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
}
