//! PROXY protocol headers: what [`encode`] writes, [`decode`] reads back, for v1 and v2, IPv4
//! and IPv6; the length covers the header only, and every proper prefix asks for more.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use apisix_gateway::config::ProxyProtocolVersion;
use apisix_gateway::proxy_protocol::{decode, encode, peek::Peeked};
use proptest::prelude::*;

fn v4() -> impl Strategy<Value = SocketAddr> {
    (any::<u32>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port))
}

fn v6() -> impl Strategy<Value = SocketAddr> {
    (any::<u128>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port))
}

/// A source and destination of one family.
fn same_family_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![(v4(), v4()), (v6(), v6())]
}

fn version() -> impl Strategy<Value = ProxyProtocolVersion> {
    prop_oneof![
        Just(ProxyProtocolVersion::V1),
        Just(ProxyProtocolVersion::V2)
    ]
}

fn as_v6(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) => SocketAddr::new(v4.to_ipv6_mapped().into(), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_addresses_back(
        (source, destination) in same_family_pair(),
        version in version(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let header = encode(version, source, destination);
        let mut bytes = header.clone();
        bytes.extend_from_slice(&payload);
        let Ok(Peeked::Done((parsed, len))) = decode(&bytes) else {
            return Err(TestCaseError::fail(format!("{header:?} does not decode")));
        };
        prop_assert_eq!(len, header.len());
        prop_assert_eq!(parsed.version, if version == ProxyProtocolVersion::V1 { 1 } else { 2 });
        prop_assert_eq!(parsed.source, Some(source));
        prop_assert_eq!(parsed.destination, Some(destination));
        for cut in 0..header.len() {
            prop_assert_eq!(decode(&header[..cut]), Ok(Peeked::NeedMore), "prefix of {}", cut);
        }
    }

    #[test]
    fn mixed_families_decode_as_ipv4_mapped_ipv6(
        source in v4(), destination in v6(), version in version(), swap in any::<bool>(),
    ) {
        let (source, destination) = if swap { (destination, source) } else { (source, destination) };
        let header = encode(version, source, destination);
        let Ok(Peeked::Done((parsed, len))) = decode(&header) else {
            return Err(TestCaseError::fail(format!("{header:?} does not decode")));
        };
        prop_assert_eq!(len, header.len());
        prop_assert_eq!(parsed.source, Some(as_v6(source)));
        prop_assert_eq!(parsed.destination, Some(as_v6(destination)));
    }
}
