//! The ClientHello SNI reader (`sni_preread`) on arbitrary first bytes: it never panics, and a
//! name it finds is already normalized (lowercase, no trailing dot, not empty).
#![no_main]

use apisix_gateway::proxy_protocol::peek::Peeked;
use apisix_gateway::tls::sni::client_hello_sni;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Peeked::Done(Some(name)) = client_hello_sni(data) {
        assert!(!name.is_empty());
        assert!(!name.ends_with('.'), "{name:?}");
        assert_eq!(name, name.to_ascii_lowercase());
    }
});
