//! Free-port probing for the gateway's listeners.
//!
//! Ports are taken **below** the kernel's ephemeral range (`ip_local_port_range`), so that a
//! port reserved here cannot be handed out meanwhile to a backend binding port 0 or to one of
//! the thousands of client sockets the tests open. A candidate counts as free when both TCP
//! and UDP can bind it on 127.0.0.1; a process-wide set never hands the same port out twice.
//! The starting point depends on the process id so that concurrent test binaries spread out.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

/// The lowest port ever returned.
const LOWEST: u16 = 10_000;

struct Allocator {
    handed_out: HashSet<u16>,
    next: u16,
}

fn allocator() -> &'static Mutex<Allocator> {
    static ALLOC: OnceLock<Mutex<Allocator>> = OnceLock::new();
    ALLOC.get_or_init(|| {
        let (low, high) = candidate_range();
        let span = u32::from(high - low);
        let offset = (std::process::id().wrapping_mul(7919)) % span.max(1);
        let next = low + u16::try_from(offset).expect("offset below a u16 span");
        Mutex::new(Allocator {
            handed_out: HashSet::new(),
            next,
        })
    })
}

/// `[LOWEST, start of the ephemeral range)`, or a fixed fallback when that is too small.
fn candidate_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32_768);
    if ephemeral_low > LOWEST + 1_000 {
        (LOWEST, ephemeral_low)
    } else {
        (LOWEST, 30_000)
    }
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A port on 127.0.0.1 that is currently free for both TCP and UDP, outside the ephemeral
/// range, and not returned before by this process.
pub fn free_port() -> u16 {
    let (low, high) = candidate_range();
    let mut alloc = allocator().lock().expect("port allocator lock");
    for _ in low..high {
        let port = alloc.next;
        alloc.next = if port + 1 >= high { low } else { port + 1 };
        if alloc.handed_out.contains(&port) || !bindable(port) {
            continue;
        }
        alloc.handed_out.insert(port);
        return port;
    }
    panic!("ports: no free port in {low}..{high}");
}

/// A TCP address on 127.0.0.1 where nothing listens (a "dead" upstream node).
pub fn dead_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))
}
