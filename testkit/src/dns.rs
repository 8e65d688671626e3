//! A small DNS server for the gateway's DNS tests, on 127.0.0.1 UDP port 0: it answers A and
//! AAAA queries from a table the test changes while it runs (answers encoded with
//! hickory-proto). A name not in the table is `NXDOMAIN`; a name with addresses of the other
//! family only gets an empty `NOERROR`. [`DnsServer::go_silent`] makes it read queries and
//! never answer (a server that times out). It stops when dropped.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hickory_proto::op::{Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The table: addresses by lowercase name without the trailing dot, and the TTL of every answer.
#[derive(Debug)]
struct Zone {
    names: HashMap<String, Vec<IpAddr>>,
    ttl: u32,
    silent: bool,
}

/// A running DNS server (see the module docs).
#[derive(Debug)]
pub struct DnsServer {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DnsServer {
    /// Starts a server with an empty table (every name `NXDOMAIN`) answering with `ttl`
    /// seconds.
    pub async fn start(ttl: u32) -> DnsServer {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("binding the DNS server on 127.0.0.1:0");
        let addr = socket.local_addr().expect("local addr of a bound socket");
        let zone = Arc::new(Mutex::new(Zone {
            names: HashMap::new(),
            ttl,
            silent: false,
        }));
        let queries = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(serve(socket, zone.clone(), queries.clone()));
        DnsServer {
            addr,
            zone,
            queries,
            task,
        }
    }

    /// `addr` as an `apisix.dns_resolver` entry (`127.0.0.1:<port>`).
    pub fn server_entry(&self) -> String {
        self.addr.to_string()
    }

    /// Answers `name` with `addrs` from now on (A for the IPv4 ones, AAAA for the IPv6 ones).
    pub fn set(&self, name: &str, addrs: &[IpAddr]) {
        self.zone().names.insert(key(name), addrs.to_vec());
    }

    /// Answers `name` with `NXDOMAIN` from now on.
    pub fn remove(&self, name: &str) {
        self.zone().names.remove(&key(name));
    }

    /// The TTL of the answers from now on.
    pub fn set_ttl(&self, ttl: u32) {
        self.zone().ttl = ttl;
    }

    /// Reads queries and never answers them (`false`: answer again).
    pub fn go_silent(&self, silent: bool) {
        self.zone().silent = silent;
    }

    /// Queries received so far (answered or not).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    fn zone(&self) -> std::sync::MutexGuard<'_, Zone> {
        self.zone.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve(socket: UdpSocket, zone: Arc<Mutex<Zone>>, queries: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let reply = {
            let zone = zone.lock().unwrap_or_else(PoisonError::into_inner);
            if zone.silent {
                continue;
            }
            answer(&query, &zone)
        };
        if let Ok(bytes) = reply.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

/// The reply to `query` from `zone`.
fn answer(query: &Message, zone: &Zone) -> Message {
    let mut reply = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    reply.metadata = Metadata::response_from_request(&query.metadata);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_available = true;
    for q in &query.queries {
        reply.add_query(q.clone());
        let Some(addrs) = zone.names.get(&key(&q.name().to_ascii())) else {
            reply.metadata.response_code = ResponseCode::NXDomain;
            continue;
        };
        for ip in addrs {
            let rdata = match (ip, q.query_type()) {
                (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                _ => continue,
            };
            reply.add_answer(Record::from_rdata(q.name().clone(), zone.ttl, rdata));
        }
    }
    reply
}
