//! The PROXY protocol v1/v2 header parser on arbitrary first bytes of a connection: it never
//! panics, a decided header never claims more bytes than it was given, and a v1 header never
//! exceeds 107 bytes.
#![no_main]

use apisix_gateway::proxy_protocol::{decode, peek::Peeked, V1_MAX, V2_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Peeked::Done((header, len))) = decode(data) {
        assert!(
            len <= data.len(),
            "header length {len} beyond {} bytes",
            data.len()
        );
        match header.version {
            1 => assert!(len <= V1_MAX),
            2 => assert!((16..=V2_MAX).contains(&len)),
            other => panic!("version {other}"),
        }
        // The same bytes decide the same way.
        assert_eq!(decode(&data[..len]), Ok(Peeked::Done((header, len))));
    }
});
