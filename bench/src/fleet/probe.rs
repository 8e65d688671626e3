//! One probe of gateway B: a TCP connection from a chosen loopback source address to B's
//! stream listener, a 16 B echo through it. B closes a connection that matches no route
//! without sending a byte, so the echo comes back only once B has the route for that source.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const MESSAGE: [u8; 16] = *b"gwbench-fleet-01";
/// Bound of one probe: connect, write and the echo (B answers an unrouted client at once).
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Routes per third octet: the fourth octet runs 1..=250.
const PER_OCTET: usize = 250;
/// Third octet of the warm-up route's source address (never used by a measured route).
const WARMUP_OCTET: u8 = 255;

/// Most routes one run can address (third octet 0..=249).
pub const MAX_ROUTES: usize = PER_OCTET * PER_OCTET;

/// The source address of route `index`: `127.<net>.<index / 250>.<index % 250 + 1>`.
pub fn source_of(net: u8, index: usize) -> Ipv4Addr {
    let third = u8::try_from(index / PER_OCTET).expect("index below MAX_ROUTES");
    let fourth = u8::try_from(index % PER_OCTET + 1).expect("index % 250 + 1 fits in a u8");
    Ipv4Addr::new(127, net, third, fourth)
}

/// The source address of the warm-up route: `127.<net>.255.1`.
pub fn warmup_source(net: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, net, WARMUP_OCTET, 1)
}

/// True when an echo from `source` through `target` came back intact within the bound;
/// false when B closed or refused the connection, or anything else failed.
pub async fn proxied(source: Ipv4Addr, target: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, echo_once(source, target)).await,
        Ok(Ok(true))
    )
}

async fn echo_once(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<bool> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let mut stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&MESSAGE).await?;
    let mut back = [0u8; MESSAGE.len()];
    stream.read_exact(&mut back).await?;
    Ok(back == MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_gets_its_own_source_address() {
        assert_eq!(source_of(77, 0), Ipv4Addr::new(127, 77, 0, 1));
        assert_eq!(source_of(77, 249), Ipv4Addr::new(127, 77, 0, 250));
        assert_eq!(source_of(77, 250), Ipv4Addr::new(127, 77, 1, 1));
        assert_eq!(source_of(78, 999), Ipv4Addr::new(127, 78, 3, 250));
        assert_eq!(
            source_of(77, MAX_ROUTES - 1),
            Ipv4Addr::new(127, 77, 249, 250)
        );
        assert_ne!(warmup_source(77), source_of(77, MAX_ROUTES - 1));
    }

    #[tokio::test]
    async fn a_listener_that_closes_at_once_is_not_proxying() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback listener");
        let target = listener.local_addr().expect("listener address");
        let closer = tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.expect("accept");
            drop(stream);
            peer
        });
        assert!(!proxied(source_of(77, 3), target).await);
        let peer = closer.await.expect("closer task");
        assert_eq!(peer.ip(), std::net::IpAddr::V4(source_of(77, 3)));
    }

    #[tokio::test]
    async fn an_echo_through_the_target_counts_as_proxied() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback listener");
        let target = listener.local_addr().expect("listener address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 16];
            stream.read_exact(&mut buf).await.expect("read");
            stream.write_all(&buf).await.expect("echo");
        });
        assert!(proxied(source_of(77, 4), target).await);
    }
}
