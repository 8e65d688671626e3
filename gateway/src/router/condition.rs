//! A route's address conditions (`remote_addr`, `server_addr`, `server_port`), compiled once
//! into `model::route_match` types (the same ones the shadow analysis reads), checked without
//! allocating on the hot path, and explained in words for `/v1/match`.

use std::net::IpAddr;

use model::route_match::{AddrRule, RouteConditions};

use crate::conn::ConnInfo;

/// Whether every address condition of `cond` holds for `conn` (no allocation).
#[inline]
pub(crate) fn matches(cond: &RouteConditions, conn: &ConnInfo) -> bool {
    if let Some(port) = cond.server_port {
        if port != conn.local.port() {
            return false;
        }
    }
    if let Some(rule) = &cond.remote_addr {
        if !rule.matches(conn.remote.ip()) {
            return false;
        }
    }
    if let Some(rule) = &cond.server_addr {
        if !rule.matches(conn.local.ip()) {
            return false;
        }
    }
    true
}

/// The reason `ip` fails `rule`, prefixed with the field name.
fn rule_failure(rule: &AddrRule, field: &str, ip: IpAddr) -> String {
    let ip = ip.to_canonical();
    match rule {
        AddrRule::Ip(rule) => format!("{field}: {ip} does not equal {rule}"),
        AddrRule::Net(_, text) => format!("{field}: {ip} is not in {text}"),
        AddrRule::Invalid(text) => format!("{field}: invalid rule {text:?} never matches"),
    }
}

/// The first failed condition in the order `remote_addr`, `server_addr`, `server_port`, or
/// `None` when all hold.
pub(crate) fn failure(cond: &RouteConditions, conn: &ConnInfo) -> Option<String> {
    if let Some(rule) = &cond.remote_addr {
        if !rule.matches(conn.remote.ip()) {
            return Some(rule_failure(rule, "remote_addr", conn.remote.ip()));
        }
    }
    if let Some(rule) = &cond.server_addr {
        if !rule.matches(conn.local.ip()) {
            return Some(rule_failure(rule, "server_addr", conn.local.ip()));
        }
    }
    match cond.server_port {
        Some(port) if port != conn.local.port() => Some(format!(
            "server_port: {} does not equal {port}",
            conn.local.port()
        )),
        _ => None,
    }
}
