//! `apisix.stream_proxy.tcp` / `.udp` entries: APISIX's forms and checks, expanded into one
//! listener per port.
//!
//! Forms: `9100`, `"127.0.0.1:9101"`, `"[::1]:9102"`, `"2000-2100"`, `"127.0.0.1:4000-4100"`,
//! and for TCP the object form `{addr, tls, proxy_protocol, proxy_protocol_to_upstream,
//! sni_preread}`. Port checks use APISIX's texts (`validate_port_or_range` in
//! `apisix/cli/ops.lua`): `invalid stream_proxy.tcp entry: port out of range (1-65535): 70000`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;

use super::reader::{describe, Reader};
use super::{ProxyProtocolVersion, TcpListen};

/// Which list an entry is in: names the messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Lua's `type()` of a value, as APISIX's messages show it.
pub(crate) fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "table",
    }
}

/// APISIX's `validate_port_or_range`: `Err` carries APISIX's message (without the
/// `invalid stream_proxy.<proto> entry: ` lead).
pub fn validate_port_or_range(entry: &Value) -> Result<(), String> {
    let text = match entry {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 {
                return Err(format!("port must be an integer, got: {n}"));
            }
            if !(1.0..=65535.0).contains(&f) {
                return Err(format!("port out of range (1-65535): {}", f as i64));
            }
            return Ok(());
        }
        Value::String(s) => s.as_str(),
        other => return Err(format!("invalid port value type: {}", lua_type(other))),
    };
    let port_part = if text.contains('[') {
        match text.find(']') {
            Some(end) if text[end + 1..].starts_with(':') => &text[end + 2..],
            _ => return Ok(()),
        }
    } else if let Some(colon) = text.find(':') {
        &text[colon + 1..]
    } else {
        text
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let in_range = |s: &str| s.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if let Some((start, end)) = port_part
        .split_once('-')
        .filter(|(a, b)| all_digits(a) && all_digits(b))
    {
        if !in_range(start) {
            return Err(format!("port out of range (1-65535): {start}"));
        }
        if !in_range(end) {
            return Err(format!("port out of range (1-65535): {end}"));
        }
        let (a, b) = (
            start.parse::<u32>().unwrap_or(0),
            end.parse::<u32>().unwrap_or(0),
        );
        if a > b {
            return Err(format!("invalid port range (start > end): {text}"));
        }
        return Ok(());
    }
    if port_part.is_empty() {
        return Err(format!("missing port: {text}"));
    }
    if all_digits(port_part) {
        if !in_range(port_part) {
            return Err(format!("port out of range (1-65535): {port_part}"));
        }
    } else if port_part.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("invalid port format: {text}"));
    }
    Ok(())
}

/// Turns a validated entry into addresses (one per port). `Err` is our message for forms
/// APISIX leaves to nginx (unix sockets, host names other than `localhost`).
fn expand(entry: &Value) -> Result<Vec<SocketAddr>, String> {
    let text = match entry {
        Value::Number(n) => {
            let port = n.as_f64().map_or(0, |f| f as u16);
            return Ok(vec![SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port,
            )]);
        }
        Value::String(s) => s.clone(),
        other => return Err(format!("invalid listen address {}", describe(other))),
    };
    let (host, ports) = if let Some(rest) = text.strip_prefix('[') {
        let (host, ports) = rest
            .split_once("]:")
            .ok_or_else(|| format!("invalid listen address {text:?}: expected [IPv6]:port"))?;
        (Some(host), ports)
    } else if let Some((host, ports)) = text.split_once(':') {
        (Some(host), ports)
    } else {
        (None, text.as_str())
    };
    let ip: IpAddr = match host {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(h) => h.parse().map_err(|_| {
            format!("invalid listen address {text:?}: expected an IP address and a port")
        })?,
    };
    let parse = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            format!("invalid listen address {text:?}: expected a port or a port range")
        })
    };
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    Ok((first..=last)
        .map(|port| SocketAddr::new(ip, port))
        .collect())
}

/// Checks and expands one entry's address; errors go to the reader.
fn addresses(r: &mut Reader<'_>, proto: Proto, path: &str, addr: &Value) -> Vec<SocketAddr> {
    if let Err(e) = validate_port_or_range(addr) {
        r.error(format!("invalid stream_proxy.{} entry: {e}", proto.name()));
        return Vec::new();
    }
    expand(addr).unwrap_or_else(|e| {
        r.error(format!("{path}: {e}"));
        Vec::new()
    })
}

/// Reads `<path>` (a non-empty list) as UDP listen addresses.
pub fn udp(r: &mut Reader<'_>, path: &str) -> Vec<SocketAddr> {
    let Some(items) = non_empty_list(r, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.extend(addresses(r, Proto::Udp, &format!("{path}[{i}]"), item));
    }
    out
}

fn non_empty_list<'a>(r: &mut Reader<'a>, path: &str) -> Option<&'a Vec<Value>> {
    let items = r.list(path)?;
    if items.is_empty() {
        r.error(format!("{path}: expected at least one entry"));
        return None;
    }
    Some(items)
}

/// Per-port defaults from `apisix.proxy_protocol`.
#[derive(Clone, Copy)]
pub struct PpDefaults {
    pub accept: bool,
    pub to_upstream: bool,
}

/// Reads `<path>` (a non-empty list) as TCP listeners, object form included.
pub fn tcp(r: &mut Reader<'_>, path: &str, pp: PpDefaults) -> Vec<TcpListen> {
    let Some(items) = non_empty_list(r, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Value::Object(obj) = item else {
            for addr in addresses(r, Proto::Tcp, &item_path, item) {
                out.push(TcpListen {
                    addr,
                    tls: false,
                    sni_preread: false,
                    proxy_protocol: pp.accept,
                    proxy_protocol_to_upstream: pp.to_upstream.then_some(ProxyProtocolVersion::V1),
                });
            }
            continue;
        };
        r.mark(&item_path);
        let flag = |r: &mut Reader<'_>, name: &str, default: bool| {
            let key = format!("{item_path}.{name}");
            r.mark(&key);
            match obj.get(name) {
                None | Some(Value::Null) => default,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    r.error(format!(
                        "{key}: expected a boolean, got {}",
                        describe(other)
                    ));
                    default
                }
            }
        };
        let tls = flag(r, "tls", false);
        let sni_preread = flag(r, "sni_preread", false);
        let proxy_protocol = flag(r, "proxy_protocol", pp.accept);
        let to_upstream =
            to_upstream_version(r, &item_path, obj.get("proxy_protocol_to_upstream"), pp);
        if tls && sni_preread {
            r.error(format!(
                "{item_path}: tls and sni_preread cannot both be true (terminate TLS or pass it through)"
            ));
        }
        r.mark(&format!("{item_path}.addr"));
        let Some(addr) = obj.get("addr").filter(|v| !v.is_null()) else {
            r.error(format!("{item_path}.addr: required"));
            continue;
        };
        for addr in addresses(r, Proto::Tcp, &item_path, addr) {
            out.push(TcpListen {
                addr,
                tls,
                sni_preread,
                proxy_protocol,
                proxy_protocol_to_upstream: to_upstream,
            });
        }
    }
    out
}

fn to_upstream_version(
    r: &mut Reader<'_>,
    item_path: &str,
    value: Option<&Value>,
    pp: PpDefaults,
) -> Option<ProxyProtocolVersion> {
    let key = format!("{item_path}.proxy_protocol_to_upstream");
    r.mark(&key);
    match value {
        None | Some(Value::Null) => pp.to_upstream.then_some(ProxyProtocolVersion::V1),
        Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(ProxyProtocolVersion::V1),
        Some(Value::String(s)) if s == "v1" => Some(ProxyProtocolVersion::V1),
        Some(Value::String(s)) if s == "v2" => Some(ProxyProtocolVersion::V2),
        Some(other) => {
            r.error(format!(
                "{key}: expected true, false, \"v1\" or \"v2\", got {}",
                describe(other)
            ));
            None
        }
    }
}
