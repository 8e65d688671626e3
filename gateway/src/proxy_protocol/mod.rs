//! The PROXY protocol (HAProxy's, versions 1 and 2): parsing the header a load balancer puts in
//! front of a connection, and writing one in front of an upstream connection.
//!
//! Inbound, on `proxy_protocol: true` ports, [`read_header`] peeks until the header is complete
//! (v1: the line up to CRLF, at most 107 bytes; v2: the 16-byte prefix plus its length), then
//! reads exactly those bytes, so the payload that follows stays in the socket for TLS, the
//! SNI peek or the relay. A missing or malformed header is an error (the caller closes the
//! connection). Whether the header's source address is believed is the caller's decision
//! ([`trusted`]: `nginx_config.stream.real_ip_from`).
//!
//! Outbound ([`encode`]), the header carries the client and the address that accepted it.

pub mod peek;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::config::ProxyProtocolVersion;
use peek::{peek_until, Peeked};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 header, CRLF included.
pub const V1_MAX: usize = 107;
/// Longest v2 header accepted (the 16-byte prefix plus addresses and TLVs).
pub const V2_MAX: usize = 16 + 4096;
/// How long a client has to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// The original client; `None` for v1 `UNKNOWN`, v2 `LOCAL` or a non-IP family.
    pub source: Option<SocketAddr>,
    /// The address the client connected to, when given.
    pub destination: Option<SocketAddr>,
}

/// A header that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proxy protocol header: {0}")]
pub struct HeaderError(pub String);

fn bad(msg: impl Into<String>) -> HeaderError {
    HeaderError(msg.into())
}

/// Decodes the header at the start of `buf`: `Ok(Done((header, length)))`, `Ok(NeedMore)` when
/// `buf` is a valid but incomplete prefix, or the error.
pub fn decode(buf: &[u8]) -> Result<Peeked<(ProxyHeader, usize)>, HeaderError> {
    if buf.is_empty() {
        return Ok(Peeked::NeedMore);
    }
    if buf[0] == b'P' {
        return decode_v1(buf);
    }
    if buf[0] == b'\r' {
        return decode_v2(buf);
    }
    Err(bad("no PROXY or v2 signature"))
}

fn decode_v1(buf: &[u8]) -> Result<Peeked<(ProxyHeader, usize)>, HeaderError> {
    let prefix = b"PROXY ";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Err(bad("no PROXY or v2 signature"));
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(bad("v1 line longer than 107 bytes"));
        }
        return Ok(Peeked::NeedMore);
    };
    if end + 2 > V1_MAX {
        return Err(bad("v1 line longer than 107 bytes"));
    }
    let line = std::str::from_utf8(&buf[prefix.len()..end]).map_err(|_| bad("v1 not ascii"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    let header = match parts.as_slice() {
        ["UNKNOWN", ..] => ProxyHeader {
            version: 1,
            source: None,
            destination: None,
        },
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| -> Result<IpAddr, HeaderError> {
                let ip: IpAddr = s.parse().map_err(|_| bad(format!("v1 address {s:?}")))?;
                if ip.is_ipv4() != (*family == "TCP4") {
                    return Err(bad(format!("v1 address {s} is not {family}")));
                }
                Ok(ip)
            };
            let port = |s: &str| -> Result<u16, HeaderError> {
                if s.is_empty() || s.len() > 5 || (s.len() > 1 && s.starts_with('0')) {
                    return Err(bad(format!("v1 port {s:?}")));
                }
                s.parse().map_err(|_| bad(format!("v1 port {s:?}")))
            };
            ProxyHeader {
                version: 1,
                source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
                destination: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
            }
        }
        _ => return Err(bad(format!("v1 line {line:?}"))),
    };
    Ok(Peeked::Done((header, end + 2)))
}

fn decode_v2(buf: &[u8]) -> Result<Peeked<(ProxyHeader, usize)>, HeaderError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(bad("no PROXY or v2 signature"));
    }
    if buf.len() < 16 {
        return Ok(Peeked::NeedMore);
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(bad(format!("v2 version nibble {version}")));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if total > V2_MAX {
        return Err(bad(format!("v2 header of {total} bytes is too long")));
    }
    if buf.len() < total {
        return Ok(Peeked::NeedMore);
    }
    let body = &buf[16..total];
    let local = ProxyHeader {
        version: 2,
        source: None,
        destination: None,
    };
    let header = match command {
        0x0 => local,
        0x1 => match buf[13] >> 4 {
            0x1 if body.len() >= 12 => {
                let ip = |at: usize| {
                    IpAddr::V4(Ipv4Addr::new(
                        body[at],
                        body[at + 1],
                        body[at + 2],
                        body[at + 3],
                    ))
                };
                let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
                ProxyHeader {
                    version: 2,
                    source: Some(SocketAddr::new(ip(0), port(8))),
                    destination: Some(SocketAddr::new(ip(4), port(10))),
                }
            }
            0x2 if body.len() >= 36 => {
                let ip = |at: usize| {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&body[at..at + 16]);
                    IpAddr::V6(Ipv6Addr::from(octets))
                };
                let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
                ProxyHeader {
                    version: 2,
                    source: Some(SocketAddr::new(ip(0), port(32))),
                    destination: Some(SocketAddr::new(ip(16), port(34))),
                }
            }
            0x1 | 0x2 => return Err(bad("v2 address block too short")),
            // AF_UNSPEC or AF_UNIX: no IP addresses to take.
            _ => local,
        },
        other => return Err(bad(format!("v2 command {other}"))),
    };
    Ok(Peeked::Done((header, total)))
}

/// Reads the PROXY header at the start of `stream`, consuming exactly its bytes.
pub async fn read_header(stream: &mut TcpStream) -> std::io::Result<ProxyHeader> {
    let mut failure: Option<HeaderError> = None;
    let decided = peek_until(stream, V2_MAX, HEADER_TIMEOUT, |buf| match decode(buf) {
        Ok(Peeked::Done(found)) => Peeked::Done(Some(found)),
        Ok(Peeked::NeedMore) => Peeked::NeedMore,
        Err(e) => {
            failure = Some(e);
            Peeked::Done(None)
        }
    })
    .await?;
    let Some((header, len)) = decided else {
        let e = failure.unwrap_or_else(|| bad("unknown"));
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    };
    let mut consumed = vec![0u8; len];
    stream.read_exact(&mut consumed).await?;
    Ok(header)
}

/// Whether a header from `peer` is believed: `real_ip_from` is empty (every sender is trusted,
/// like nginx `proxy_protocol` without `set_real_ip_from`) or holds `peer`.
pub fn trusted(peer: IpAddr, real_ip_from: &[IpNet]) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        v4 => v4,
    };
    real_ip_from.is_empty() || real_ip_from.iter().any(|net| net.contains(&peer))
}

/// The header announcing `source` connected to `destination`, in `version`. Mixed families
/// are sent as IPv6 (IPv4-mapped).
pub fn encode(
    version: ProxyProtocolVersion,
    source: SocketAddr,
    destination: SocketAddr,
) -> Vec<u8> {
    let (source, destination) = same_family(source, destination);
    match version {
        ProxyProtocolVersion::V1 => {
            let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {family} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .into_bytes()
        }
        ProxyProtocolVersion::V2 => {
            let mut out = V2_SIGNATURE.to_vec();
            out.push(0x21); // version 2, PROXY
            match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.push(0x11); // AF_INET, STREAM
                    out.extend_from_slice(&12u16.to_be_bytes());
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.push(0x21); // AF_INET6, STREAM
                    out.extend_from_slice(&36u16.to_be_bytes());
                    out.extend_from_slice(&to_v6(s).octets());
                    out.extend_from_slice(&to_v6(d).octets());
                }
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
            out
        }
    }
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a.is_ipv4() == b.is_ipv4() {
        return (a, b);
    }
    (
        SocketAddr::new(IpAddr::V6(to_v6(a.ip())), a.port()),
        SocketAddr::new(IpAddr::V6(to_v6(b.ip())), b.port()),
    )
}

#[cfg(test)]
mod tests;
