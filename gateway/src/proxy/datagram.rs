//! The UDP listening socket's I/O: datagrams read in batches (`recvmmsg`) together with the
//! address each one was sent to, and replies sent from a chosen local address.
//!
//! A socket bound to one address knows its `$server_addr` already. A wildcard-bound socket
//! (`0.0.0.0` / `[::]`) does not, so `IP_PKTINFO` / `IPV6_RECVPKTINFO` is switched on and every
//! datagram arrives with its destination address in a control message. That address (with the
//! listener's port) is the datagram's [`Destination`]: `$server_addr` for routing, part of the
//! session key, and the source of the replies, which are sent with `sendmsg` and an
//! `IP_PKTINFO` / `IPV6_PKTINFO` control message so the client sees them come from the address
//! it used (as nginx does).
//!
//! Sessions batch too: [`send_connected`] writes the datagrams queued for an upstream with one
//! `sendmmsg`, [`recv_connected`] reads the upstream's waiting replies with one `recvmmsg`, and
//! [`ListenSocket::send_batch`] sends them to the client with one `sendmmsg`. Everything goes
//! through nix's safe wrappers.
//!
//! A run of datagrams of one size to one peer (a burst of game ticks, DNS answers, QUIC
//! packets) goes out as one UDP GSO send (`UDP_SEGMENT`): the kernel builds the datagrams and
//! walks the IP stack once for the run instead of once per datagram, and the receiver still
//! gets them one by one. Datagrams over [`GSO_MAX_SEGMENT`] bytes (which a 1500-byte MTU could
//! not carry as one segment) and runs the kernel refuses are sent one by one as before.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use nix::sys::socket::{
    self, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams read per `recvmmsg` call at most.
pub const BATCH: usize = 16;
/// Largest UDP payload (one receive slot).
pub const MAX_DATAGRAM: usize = 65536;
/// Largest datagram sent as a segment of a GSO send: one segment must fit the path MTU, and
/// 1452 bytes fit a 1500-byte MTU under IPv6 and IPv4 headers.
pub const GSO_MAX_SEGMENT: usize = 1452;
/// Most datagrams in one GSO send (the kernel takes up to 64 on every version with GSO).
const GSO_MAX_SEGMENTS: usize = 64;
/// Set when the kernel refused a GSO send with `EIO` (no checksum offload on the way out):
/// from then on datagrams are sent one by one.
static GSO_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Where a datagram was sent: the listener's port with the destination address of its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// `$server_addr:$server_port`: the address the client sent to.
    pub addr: SocketAddr,
    /// The local address replies leave from; `None` lets the kernel pick (a socket bound to
    /// one address, or a broadcast / multicast destination, which cannot be a source).
    reply_from: Option<IpAddr>,
    /// The interface to reply on, for IPv6 link-local destinations only (0: any).
    ifindex: u32,
}

impl Destination {
    /// The destination of every datagram on a socket bound to `local` (no control message).
    pub fn bound(local: SocketAddr) -> Self {
        Destination {
            addr: local,
            reply_from: None,
            ifindex: 0,
        }
    }

    /// The destination recorded in a packet-info control message, with the listener's `port`;
    /// `None` for other control messages.
    pub fn from_cmsg(port: u16, cmsg: &ControlMessageOwned) -> Option<Self> {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                let addr = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                // `ipi_spec_dst` is the local address the datagram was accepted on: the
                // destination for unicast, the interface's address for a broadcast.
                let local = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
                Some(Destination {
                    addr: SocketAddr::new(addr.into(), port),
                    reply_from: (!local.is_unspecified() && !local.is_broadcast())
                        .then_some(local.into()),
                    ifindex: 0,
                })
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                let addr = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
                Some(Destination {
                    addr: SocketAddr::new(addr.into(), port),
                    reply_from: (!addr.is_multicast()).then_some(addr.into()),
                    ifindex: if link_local { info.ipi6_ifindex } else { 0 },
                })
            }
            _ => None,
        }
    }

    /// The address replies to this destination are sent from, when it is set explicitly.
    pub fn reply_from(&self) -> Option<IpAddr> {
        self.reply_from
    }
}

/// The control message that makes a datagram leave from a given local address.
enum SourceInfo {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl SourceInfo {
    fn new(from: IpAddr, ifindex: u32) -> Self {
        match from {
            IpAddr::V4(ip) => SourceInfo::V4(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            IpAddr::V6(ip) => SourceInfo::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                ipi6_ifindex: ifindex,
            }),
        }
    }

    /// Control-message room for one of these.
    fn space(&self) -> Vec<u8> {
        match self {
            SourceInfo::V4(_) => nix::cmsg_space!(libc::in_pktinfo),
            SourceInfo::V6(_) => nix::cmsg_space!(libc::in6_pktinfo),
        }
    }

    fn message(&self) -> ControlMessage<'_> {
        match self {
            SourceInfo::V4(info) => ControlMessage::Ipv4PacketInfo(info),
            SourceInfo::V6(info) => ControlMessage::Ipv6PacketInfo(info),
        }
    }
}

/// One received datagram's metadata.
#[derive(Debug, Clone, Copy)]
struct Received {
    /// Which slot holds its bytes.
    slot: usize,
    len: usize,
    client: SocketAddr,
    dest: Destination,
}

/// Receive slots for one `recvmmsg` call and what the last call put in them.
///
/// The slots are one zeroed allocation the OS maps lazily, so only the pages datagrams were
/// written to take memory.
pub struct RecvBatch {
    slots: Vec<u8>,
    received: Vec<Received>,
}

impl RecvBatch {
    /// Room for [`BATCH`] datagrams of up to [`MAX_DATAGRAM`] bytes.
    pub fn new() -> Self {
        Self::with_slots(BATCH)
    }

    /// Room for `slots` (at least one) datagrams of up to [`MAX_DATAGRAM`] bytes.
    pub fn with_slots(slots: usize) -> Self {
        RecvBatch {
            slots: vec![0u8; slots.max(1) * MAX_DATAGRAM],
            received: Vec::with_capacity(slots),
        }
    }

    /// The datagrams of the last receive: payload, client address and destination.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr, Destination)> + '_ {
        self.received.iter().map(|r| {
            let start = r.slot * MAX_DATAGRAM;
            (&self.slots[start..start + r.len], r.client, r.dest)
        })
    }

    /// Number of datagrams from the last receive.
    pub fn len(&self) -> usize {
        self.received.len()
    }

    /// Number of datagrams one receive can take.
    pub fn slots(&self) -> usize {
        self.slots.len() / MAX_DATAGRAM
    }

    /// Whether the last receive filled every slot (more may be waiting).
    pub fn is_full(&self) -> bool {
        self.received.len() == self.slots()
    }

    /// Whether the last receive got nothing.
    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// One nonblocking `recvmmsg` on `fd`; `WouldBlock` when nothing is waiting.
    fn fill(&mut self, fd: RawFd, local: SocketAddr, pktinfo: bool) -> io::Result<()> {
        self.received.clear();
        // Fresh headers each call: the kernel shrinks the control and name lengths it is
        // given to what it wrote, and nix does not reset them between calls.
        let cmsg = pktinfo.then(|| match local {
            SocketAddr::V4(_) => nix::cmsg_space!(libc::in_pktinfo),
            SocketAddr::V6(_) => nix::cmsg_space!(libc::in6_pktinfo),
        });
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(self.slots(), cmsg);
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .slots
            .chunks_mut(MAX_DATAGRAM)
            .map(|slot| [IoSliceMut::new(slot)])
            .collect();
        let results =
            socket::recvmmsg(fd, &mut headers, slices.iter_mut(), MsgFlags::empty(), None)?;
        for (slot, msg) in results.enumerate() {
            // Always set for UDP; a datagram without a sender could not be answered anyway.
            let Some(client) = msg.address.and_then(std_addr) else {
                continue;
            };
            let dest = msg
                .cmsgs()
                .ok()
                .into_iter()
                .flatten()
                .find_map(|cmsg| Destination::from_cmsg(local.port(), &cmsg))
                .unwrap_or(Destination::bound(local));
            self.received.push(Received {
                slot,
                len: msg.bytes,
                client,
                dest,
            });
        }
        Ok(())
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

fn std_addr(addr: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// A UDP listening socket that knows where each datagram was sent.
#[derive(Debug)]
pub struct ListenSocket {
    socket: UdpSocket,
    local: SocketAddr,
    /// Packet info is on: the socket is bound to a wildcard address.
    pktinfo: bool,
}

impl ListenSocket {
    /// Wraps `socket`, switching packet info on when it is bound to a wildcard address.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let local = socket.local_addr()?;
        let pktinfo = local.ip().is_unspecified();
        if pktinfo {
            match local {
                SocketAddr::V4(_) => socket::setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?,
                SocketAddr::V6(_) => {
                    socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?
                }
            }
        }
        Ok(ListenSocket {
            socket,
            local,
            pktinfo,
        })
    }

    /// The bound address (a wildcard address for a wildcard listener).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for datagrams and reads up to [`BATCH`] of them into `batch`.
    pub async fn recv(&self, batch: &mut RecvBatch) -> io::Result<()> {
        recv_draining(&self.socket, batch, self.local, self.pktinfo).await
    }

    /// Sends `payload` to `client` from the address the client's datagrams were sent to.
    pub async fn send_to(
        &self,
        payload: &[u8],
        client: SocketAddr,
        from: &Destination,
    ) -> io::Result<usize> {
        let Some(ip) = from.reply_from else {
            return self.socket.send_to(payload, client).await;
        };
        let source = SourceInfo::new(ip, from.ifindex);
        let (sent, error) = send_all(&self.socket, &[payload], Some(client), Some(&source)).await;
        match error {
            Some(e) => Err(e),
            None => Ok(sent as usize),
        }
    }

    /// Sends the datagrams of `batch` to `client` from the address the client's datagrams were
    /// sent to, many per `sendmmsg` call; returns the bytes sent and the last error (a
    /// datagram whose send fails is skipped).
    pub async fn send_batch(
        &self,
        batch: &RecvBatch,
        client: SocketAddr,
        from: &Destination,
    ) -> (u64, Option<io::Error>) {
        let payloads: Vec<&[u8]> = batch.iter().map(|(payload, _, _)| payload).collect();
        let source = from.reply_from.map(|ip| SourceInfo::new(ip, from.ifindex));
        send_all(&self.socket, &payloads, Some(client), source.as_ref()).await
    }
}

/// Waits for datagrams on the connected `socket` and reads as many as `batch` holds.
pub async fn recv_connected(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<()> {
    // No packet info on a session socket: the local address only names the (unused) destination.
    let unused = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    recv_draining(socket, batch, unused, false).await
}

/// Waits until `socket` is readable and fills `batch` with one `recvmmsg`.
///
/// A receive that leaves slots empty drained the socket's queue (`recvmmsg` stops at the first
/// `EAGAIN`), so the socket's readiness is cleared right away, as if the next call had said
/// `EAGAIN`: that call is saved. tokio clears it only if no readiness event arrived meanwhile,
/// so a datagram that came in after the receive still wakes the reader.
async fn recv_draining(
    socket: &UdpSocket,
    batch: &mut RecvBatch,
    local: SocketAddr,
    pktinfo: bool,
) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    loop {
        socket.readable().await?;
        let mut drained = false;
        let received = socket.try_io(Interest::READABLE, || {
            batch.fill(fd, local, pktinfo)?;
            if !batch.is_empty() && !batch.is_full() {
                drained = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match received {
            Ok(()) => return Ok(()),
            Err(_) if drained => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends every datagram of `batch` on the connected `socket`, many per `sendmmsg` call, in
/// order; returns the bytes sent and the last error. A datagram whose send fails (e.g. an
/// ICMP error of an earlier one reported now) is skipped, the others still go, as with one
/// `send` each. A UDP send only waits while the socket buffer is full.
pub async fn send_connected(socket: &UdpSocket, batch: &[Bytes]) -> (u64, Option<io::Error>) {
    send_all(socket, batch, None, None).await
}

/// Sends `payloads` in order to `to` (`None`: the connected peer) with `source` as the
/// packet-info control message of each; see [`send_connected`] for errors.
async fn send_all<P: AsRef<[u8]>>(
    socket: &UdpSocket,
    payloads: &[P],
    to: Option<SocketAddr>,
    source: Option<&SourceInfo>,
) -> (u64, Option<io::Error>) {
    let out = Outgoing {
        fd: socket.as_raw_fd(),
        to: to.map(SockaddrStorage::from),
        source,
    };
    let (mut sent, mut bytes, mut error) = (0, 0, None);
    while sent < payloads.len() {
        let rest = &payloads[sent..];
        match socket
            .async_io(Interest::WRITABLE, || send_many(out, rest))
            .await
        {
            Ok((count, n)) => {
                sent += count;
                bytes += n;
            }
            Err(e) => {
                sent += 1;
                error = Some(e);
            }
        }
    }
    (bytes, error)
}

/// Where a nonblocking send goes: the socket, the peer (`None`: the connected one) and the
/// packet-info control message each datagram carries.
#[derive(Clone, Copy)]
struct Outgoing<'a> {
    fd: RawFd,
    to: Option<SockaddrStorage>,
    source: Option<&'a SourceInfo>,
}

/// One nonblocking send of the start of `batch` on `out`: a GSO send of the run of same-size
/// datagrams it starts with, or one `sendmsg` / `sendmmsg` of the datagrams before the next
/// such run. Returns how many datagrams went, and their bytes.
fn send_many<P: AsRef<[u8]>>(out: Outgoing<'_>, batch: &[P]) -> io::Result<(usize, u64)> {
    let run = gso_run(batch);
    if run >= 2 {
        match send_segments(out, &batch[..run]) {
            Ok(bytes) => return Ok((run, bytes)),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                tracing::debug!(error = %e, "udp gso refused, sending datagrams one by one");
                GSO_UNAVAILABLE.store(true, Ordering::Relaxed);
            }
            // E.g. a segment over a smaller path MTU: this run goes one by one.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
        return send_each(out, &batch[..run]);
    }
    let plain = (1..batch.len())
        .find(|&start| gso_run(&batch[start..]) >= 2)
        .unwrap_or(batch.len());
    send_each(out, &batch[..plain])
}

/// How many datagrams at the start of `batch` have the first one's size and can go as one
/// GSO send (0 when GSO is off for them).
fn gso_run<P: AsRef<[u8]>>(batch: &[P]) -> usize {
    let Some(first) = batch.first().map(|d| d.as_ref().len()) else {
        return 0;
    };
    if first == 0 || first > GSO_MAX_SEGMENT || GSO_UNAVAILABLE.load(Ordering::Relaxed) {
        return 0;
    }
    batch
        .iter()
        .take(GSO_MAX_SEGMENTS)
        .take_while(|d| d.as_ref().len() == first)
        .count()
}

/// One `sendmsg` carrying `run` (datagrams of one size) with `UDP_SEGMENT`: the kernel cuts it
/// back into the datagrams.
fn send_segments<P: AsRef<[u8]>>(out: Outgoing<'_>, run: &[P]) -> io::Result<u64> {
    let Outgoing { fd, to, source } = out;
    // At most GSO_MAX_SEGMENT, so it fits.
    let segment = run[0].as_ref().len() as u16;
    let iov: Vec<IoSlice<'_>> = run.iter().map(|d| IoSlice::new(d.as_ref())).collect();
    let mut cmsgs = vec![ControlMessage::UdpGsoSegments(&segment)];
    cmsgs.extend(source.map(SourceInfo::message));
    let n = socket::sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), to.as_ref())?;
    Ok(n as u64)
}

/// One nonblocking `sendmsg` / `sendmmsg` of `batch` on `fd`, a datagram per message.
fn send_each<P: AsRef<[u8]>>(out: Outgoing<'_>, batch: &[P]) -> io::Result<(usize, u64)> {
    let Outgoing { fd, to, source } = out;
    let cmsgs: Vec<ControlMessage<'_>> = source.map(SourceInfo::message).into_iter().collect();
    if let [one] = batch {
        let iov = [IoSlice::new(one.as_ref())];
        let n = socket::sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), to.as_ref())?;
        return Ok((1, n as u64));
    }
    let mut headers =
        MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), source.map(SourceInfo::space));
    let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|d| [IoSlice::new(d.as_ref())]).collect();
    let addrs = vec![to; batch.len()];
    let results = socket::sendmmsg(fd, &mut headers, &slices, &addrs, &cmsgs, MsgFlags::empty())?;
    // Only the counts are read: the results' addresses are not filled in on a send.
    Ok(results.fold((0, 0), |(count, bytes), msg| {
        (count + 1, bytes + msg.bytes as u64)
    }))
}

#[cfg(test)]
#[path = "datagram_tests.rs"]
mod tests;
