//! `gwbench free-ports`: loopback ports that are free right now, for scripts that start
//! several servers (scripts/fleet-bench.sh).
//!
//! Ports are taken below the kernel's ephemeral range (`ip_local_port_range`), so the
//! thousands of client sockets a benchmark opens cannot take one meanwhile. A port counts as
//! free when both TCP and UDP can bind it on 127.0.0.1. The search starts at an offset that
//! depends on the process id, so two scripts started together spread out.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::bail;

/// The lowest port handed out.
const LOWEST: u16 = 10_000;

/// Probes made so far by this process (where the next one starts).
static PROBES: AtomicU32 = AtomicU32::new(0);

/// `count` distinct free ports, none handed out before by this process (until the range wraps).
pub fn free(count: usize) -> anyhow::Result<Vec<u16>> {
    let high = ephemeral_low().max(LOWEST + 1_000);
    let span = u32::from(high - LOWEST);
    let offset = std::process::id().wrapping_mul(7919) % span;
    let mut ports = Vec::with_capacity(count);
    for _ in 0..span {
        if ports.len() == count {
            break;
        }
        // Each probe takes the next step, so two calls in one process (tests run in parallel)
        // never hand out the same port before either binds it.
        let step = PROBES.fetch_add(1, Ordering::Relaxed);
        let port = LOWEST + u16::try_from((offset + step) % span).expect("below a u16 span");
        if bindable(port) {
            ports.push(port);
        }
    }
    if ports.len() < count {
        bail!(
            "only {} free ports in {LOWEST}..{high}, {count} wanted",
            ports.len()
        );
    }
    Ok(ports)
}

/// The first port of the ephemeral range (32768 when unknown).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768)
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_distinct_bindable_ports_below_the_ephemeral_range() {
        let ports = free(5).expect("five free ports");
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert!(ports
            .iter()
            .all(|p| *p >= LOWEST && *p < ephemeral_low().max(LOWEST + 1_000)));
    }
}
