use super::*;

fn done(buf: &[u8]) -> (ProxyHeader, usize) {
    match decode(buf).expect("valid header") {
        Peeked::Done(found) => found,
        Peeked::NeedMore => panic!("header incomplete"),
    }
}

#[test]
fn v1_tcp4_gives_source_destination_and_length() {
    let buf = b"PROXY TCP4 10.1.2.3 192.168.0.1 5555 9100\r\nhello";
    let (header, len) = done(buf);
    assert_eq!(len, buf.len() - 5);
    assert_eq!(header.source, Some("10.1.2.3:5555".parse().expect("addr")));
    assert_eq!(
        header.destination,
        Some("192.168.0.1:9100".parse().expect("addr"))
    );
}

#[test]
fn v1_prefix_without_crlf_needs_more() {
    assert_eq!(
        decode(b"PROXY TCP4 10.1.2.3").expect("prefix"),
        Peeked::NeedMore
    );
    assert_eq!(decode(b"PRO").expect("prefix"), Peeked::NeedMore);
}

#[test]
fn v1_unknown_has_no_addresses() {
    let (header, len) = done(b"PROXY UNKNOWN\r\n");
    assert_eq!((header.source, len), (None, 15));
}

#[test]
fn malformed_headers_are_errors() {
    for buf in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"PROXY TCP4 10.1.2.3 ::1 1 2\r\n",
        b"PROXY TCP4 10.1.2.3 10.0.0.1 01 2\r\n",
        b"PROXY TCP9 a b c d\r\n",
        b"\r\n\r\n\0\r\nQUIX\n",
        b"\x16\x03\x01",
    ] {
        assert!(decode(buf).is_err(), "{buf:?} should be rejected");
    }
    let long = [b"PROXY ".as_slice(), &[b'1'; 120]].concat();
    assert!(decode(&long).is_err());
}

#[test]
fn v2_round_trips_ipv4_and_ipv6() {
    for (src, dst) in [
        ("10.9.8.7:1234", "127.0.0.1:9100"),
        ("[2001:db8::1]:40000", "[::1]:443"),
    ] {
        let src: SocketAddr = src.parse().expect("addr");
        let dst: SocketAddr = dst.parse().expect("addr");
        let bytes = encode(ProxyProtocolVersion::V2, src, dst);
        let (header, len) = done(&bytes);
        assert_eq!(len, bytes.len());
        assert_eq!(
            (header.version, header.source, header.destination),
            (2, Some(src), Some(dst))
        );
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]).expect("prefix"),
            Peeked::NeedMore
        );
    }
}

#[test]
fn v1_encoding_parses_back_and_mixed_families_become_ipv6() {
    let src: SocketAddr = "10.0.0.5:777".parse().expect("addr");
    let dst: SocketAddr = "[::1]:80".parse().expect("addr");
    let bytes = encode(ProxyProtocolVersion::V1, src, dst);
    assert_eq!(bytes, b"PROXY TCP6 ::ffff:10.0.0.5 ::1 777 80\r\n");
    let same = encode(
        ProxyProtocolVersion::V1,
        src,
        "10.0.0.1:80".parse().expect("addr"),
    );
    assert_eq!(done(&same).0.source, Some(src));
}

#[test]
fn v2_local_command_has_no_source() {
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    let (header, len) = done(&bytes);
    assert_eq!((header.source, len), (None, 16));
}

#[test]
fn trust_follows_real_ip_from_and_empty_trusts_everyone() {
    let nets: Vec<IpNet> = vec!["127.0.0.0/8".parse().expect("net")];
    assert!(trusted("127.0.0.1".parse().expect("ip"), &nets));
    assert!(trusted("::ffff:127.0.0.1".parse().expect("ip"), &nets));
    assert!(!trusted("10.0.0.1".parse().expect("ip"), &nets));
    assert!(trusted("10.0.0.1".parse().expect("ip"), &[]));
}
