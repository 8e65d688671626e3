//! The ClientHello's `server_name`, read from the raw bytes (for `sni_preread` passthrough, which
//! must not terminate TLS), and the SNI normalization shared with termination.
//!
//! [`client_hello_sni`] walks TLS records (type 22) until the ClientHello handshake message is
//! complete (it may span records), then its fields up to the extensions. A first byte that is
//! not a handshake record, or anything malformed, means "no SNI": such clients still route
//! through the non-SNI routes.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::proxy_protocol::peek::{peek_until, Peeked};

/// The most bytes peeked for a ClientHello.
pub const PREREAD_MAX: usize = 16 * 1024;
/// How long a client has to send its ClientHello on an `sni_preread` port.
pub const PREREAD_TIMEOUT: Duration = Duration::from_secs(5);

/// An SNI as routes and certificates compare it: lowercase, trailing dot removed; empty → none.
pub fn normalize(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// The SNI of the ClientHello at the start of `buf`: `Done(Some(name))`, `Done(None)` when the
/// bytes are not a ClientHello or it has no (valid) server name, `NeedMore` when incomplete.
pub fn client_hello_sni(buf: &[u8]) -> Peeked<Option<String>> {
    // Reassemble the handshake payload from consecutive handshake records.
    if is_not_tls(buf) {
        return Peeked::Done(None);
    }
    let mut handshake = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(header) = buf.get(at..at + 5) else {
            return Peeked::NeedMore;
        };
        if header[0] != 22 || header[1] != 3 {
            return Peeked::Done(None);
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return Peeked::Done(None);
        }
        let Some(payload) = buf.get(at + 5..at + 5 + len) else {
            // Decide early when what we have already holds the whole message.
            let partial = &buf[(at + 5).min(buf.len())..];
            handshake.extend_from_slice(partial);
            return match parse_handshake(&handshake) {
                Some(found) => Peeked::Done(found),
                None => Peeked::NeedMore,
            };
        };
        handshake.extend_from_slice(payload);
        at += 5 + len;
        if let Some(found) = parse_handshake(&handshake) {
            return Peeked::Done(found);
        }
    }
}

/// Whether the first bytes already rule out a TLS handshake record (type 22, major version 3),
/// so a short non-TLS greeting (`who\n`) is decided without waiting for five bytes.
fn is_not_tls(buf: &[u8]) -> bool {
    buf.first().is_some_and(|&ty| ty != 22) || buf.get(1).is_some_and(|&major| major != 3)
}

/// `None`: incomplete; `Some(result)`: decided.
fn parse_handshake(msg: &[u8]) -> Option<Option<String>> {
    if msg.len() < 4 {
        return None;
    }
    if msg[0] != 1 {
        return Some(None);
    }
    let len = (usize::from(msg[1]) << 16) | (usize::from(msg[2]) << 8) | usize::from(msg[3]);
    let body = msg.get(4..4 + len)?;
    Some(hello_sni(body))
}

/// A cursor over a ClientHello body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn hello_sni(body: &[u8]) -> Option<String> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        if ty != 0 {
            continue;
        }
        let mut list = Reader(Reader(data).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().and_then(normalize);
            }
        }
        return None;
    }
    None
}

/// Peeks the ClientHello on `stream` (nothing consumed) and returns its SNI; `None` for a
/// non-TLS client, for a hello larger than [`PREREAD_MAX`], and for a client that sent no
/// complete hello within [`PREREAD_TIMEOUT`] (so server-speaks-first protocols still route,
/// late). The error: the peer closed before sending enough to decide.
pub async fn preread_sni(stream: &TcpStream) -> std::io::Result<Option<String>> {
    match peek_until(stream, PREREAD_MAX, PREREAD_TIMEOUT, client_hello_sni).await {
        Ok(found) => Ok(found),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello from rustls for `name`.
    fn hello(name: Option<&str>) -> Vec<u8> {
        use std::sync::Arc;
        let roots = rustls::RootCertStore::empty();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.enable_sni = name.is_some();
        let server = rustls::pki_types::ServerName::try_from(name.unwrap_or("x.test").to_owned())
            .expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(config), server).expect("conn");
        let mut out = Vec::new();
        conn.write_tls(&mut out).expect("hello");
        out
    }

    #[test]
    fn sni_is_read_from_a_real_client_hello() {
        let bytes = hello(Some("Api.Example.COM"));
        assert_eq!(
            client_hello_sni(&bytes),
            Peeked::Done(Some("api.example.com".into()))
        );
    }

    #[test]
    fn partial_hello_needs_more_and_hello_without_sni_has_none() {
        let bytes = hello(Some("a.test"));
        assert_eq!(client_hello_sni(&bytes[..40]), Peeked::NeedMore);
        assert_eq!(client_hello_sni(&bytes[..3]), Peeked::NeedMore);
        assert_eq!(client_hello_sni(&hello(None)), Peeked::Done(None));
    }

    #[test]
    fn non_tls_bytes_have_no_sni() {
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), Peeked::Done(None));
        assert_eq!(
            client_hello_sni(b"\x16\x03\x01\x00\x00"),
            Peeked::Done(None)
        );
    }

    #[test]
    fn hello_split_over_two_records_is_reassembled() {
        let bytes = hello(Some("split.test"));
        let payload = &bytes[5..];
        let (a, b) = payload.split_at(30);
        let mut split = vec![22, 3, 1];
        split.extend_from_slice(&(a.len() as u16).to_be_bytes());
        split.extend_from_slice(a);
        split.extend_from_slice(&[22, 3, 1]);
        split.extend_from_slice(&(b.len() as u16).to_be_bytes());
        split.extend_from_slice(b);
        assert_eq!(
            client_hello_sni(&split),
            Peeked::Done(Some("split.test".into()))
        );
    }

    #[test]
    fn normalize_lowercases_and_drops_the_trailing_dot() {
        assert_eq!(normalize("A.B.c."), Some("a.b.c".into()));
        assert_eq!(normalize("."), None);
    }
}
