//! Free-port probing: bind port 0 on 127.0.0.1 (TCP and UDP), remember the port, release it.
//! A process-wide set keeps one test binary from handing the same port out twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A port on 127.0.0.1 that is currently free for both TCP and UDP and was not returned
/// before by this process.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (tcp)");
        let port = tcp
            .local_addr()
            .expect("local addr of a bound socket")
            .port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            continue;
        }
        let mut seen = handed_out().lock().expect("port set lock");
        if seen.insert(port) {
            return port;
        }
    }
    panic!("ports: no free port found after 200 attempts");
}

/// A TCP address on 127.0.0.1 where nothing listens (a "dead" upstream node).
pub fn dead_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))
}
