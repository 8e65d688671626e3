//! Consistent hashing (`type: chash`): a ketama-like ring with 160 points per weight unit
//! (weights divided by their gcd, ring size capped), keyed by `hash_on: vars` (one variable)
//! or `vars_combinations` (`$remote_addr:$server_port`). A key that resolves to nothing falls
//! back to `remote_addr`. Retries walk on to the next distinct eligible node on the ring.

use std::fmt::Write;
use std::net::IpAddr;

use super::node::NodeState;
use super::select::Group;
use crate::conn::ConnInfo;
use crate::var_template::{compile, Piece};

/// Ring points per weight unit.
pub const POINTS_PER_WEIGHT: u64 = 160;
/// Upper bound on the points of one ring.
const MAX_RING_POINTS: u64 = 40_000;

/// What the hash is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum HashKey {
    /// `hash_on: vars`: one variable name.
    Var(String),
    /// `hash_on: vars_combinations`: a template of literals and `$var` / `${var}`.
    Combination(Vec<Part>),
}

/// A piece of a `vars_combinations` template: literal text or a variable name.
pub(super) type Part = Piece<String>;

impl HashKey {
    /// From the upstream's `hash_on` and `key`; anything unusable in L4 hashes `remote_addr`.
    pub(super) fn from_config(hash_on: Option<&str>, key: Option<&str>) -> HashKey {
        let key = key.unwrap_or("").trim();
        match hash_on.unwrap_or("vars") {
            "vars" if !key.is_empty() => HashKey::Var(key.trim_start_matches('$').to_owned()),
            "vars_combinations" if !key.is_empty() => {
                HashKey::Combination(compile(key, "$", str::to_owned))
            }
            _ => HashKey::Var("remote_addr".to_owned()),
        }
    }
}

/// A variable's value, without allocating. Connection variables come from [`ConnInfo`]
/// (`remote_addr`, `remote_port`, `server_addr`, `server_port`, `ssl_server_name`); anything
/// else (`mqtt_client_id`, `route_id`, ...) from the plugin-set `vars`.
enum VarValue<'a> {
    Ip(IpAddr),
    Port(u16),
    Str(&'a str),
}

fn lookup<'a>(
    name: &str,
    conn: &'a ConnInfo,
    vars: &'a [(String, String)],
) -> Option<VarValue<'a>> {
    match name {
        "remote_addr" => Some(VarValue::Ip(conn.remote.ip().to_canonical())),
        "remote_port" => Some(VarValue::Port(conn.remote.port())),
        "server_addr" => Some(VarValue::Ip(conn.local.ip().to_canonical())),
        "server_port" => Some(VarValue::Port(conn.local.port())),
        "ssl_server_name" | "server_name" => conn
            .sni
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(VarValue::Str),
        _ => vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .map(VarValue::Str),
    }
}

fn feed(h: &mut Hasher, value: VarValue<'_>) {
    // Writing into the hasher cannot fail.
    let _ = match value {
        VarValue::Ip(ip) => write!(h, "{ip}"),
        VarValue::Port(port) => write!(h, "{port}"),
        VarValue::Str(s) => h.write_str(s),
    };
}

/// The hash of the connection's key.
pub(super) fn hash_key(key: &HashKey, conn: &ConnInfo, vars: &[(String, String)]) -> u64 {
    let mut h = Hasher::new();
    let remote = || VarValue::Ip(conn.remote.ip().to_canonical());
    match key {
        HashKey::Var(name) => feed(&mut h, lookup(name, conn, vars).unwrap_or_else(remote)),
        HashKey::Combination(parts) => {
            let resolved = parts.iter().any(|p| match p {
                Part::Var(name) => lookup(name, conn, vars).is_some(),
                Part::Text(_) => false,
            });
            if !resolved {
                feed(&mut h, remote());
            } else {
                for part in parts {
                    match part {
                        Part::Text(lit) => h.bytes(lit.as_bytes()),
                        Part::Var(name) => {
                            if let Some(value) = lookup(name, conn, vars) {
                                feed(&mut h, value);
                            }
                        }
                    }
                }
            }
        }
    }
    h.finish()
}

/// Builds the ring of `group` (nodes with weight 0 get no points).
pub(super) fn build_ring(group: &Group, nodes: &[NodeState]) -> Vec<(u64, usize)> {
    let weights: Vec<u64> = group
        .members
        .iter()
        .map(|&n| u64::from(nodes[n].weight))
        .collect();
    let divisor = weights
        .iter()
        .copied()
        .filter(|&w| w > 0)
        .fold(0, gcd)
        .max(1);
    let units: u64 = weights.iter().map(|w| w / divisor).sum();
    let wanted = units.saturating_mul(POINTS_PER_WEIGHT);
    let mut ring = Vec::new();
    for (&node, &weight) in group.members.iter().zip(&weights) {
        if weight == 0 {
            continue;
        }
        let mut points = weight / divisor * POINTS_PER_WEIGHT;
        if wanted > MAX_RING_POINTS {
            points = (points * MAX_RING_POINTS / wanted).max(1);
        }
        let addr = &nodes[node].addr;
        for j in 0..points {
            let mut h = Hasher::new();
            let _ = write!(h, "{}:{}#{j}", addr.host, addr.port);
            ring.push((h.finish(), node));
        }
    }
    ring.sort_unstable();
    ring
}

/// The first eligible node at or after `hash` on the ring.
pub(super) fn pick(group: &Group, hash: u64, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
    let ring = &group.ring;
    let start = ring.partition_point(|&(point, _)| point < hash);
    (0..ring.len())
        .map(|k| ring[(start + k) % ring.len()].1)
        .find(|&node| eligible(node))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// FNV-1a (64 bit) with a murmur3 finalizer: stable across runs and processes, so every
/// gateway instance maps a client to the same node.
pub(super) struct Hasher(u64);

impl Hasher {
    pub(super) fn new() -> Self {
        Hasher(0xcbf2_9ce4_8422_2325)
    }

    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(super) fn finish(&self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

impl Write for Hasher {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}
