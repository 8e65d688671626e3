//! The ClientHello SNI reader (`sni_preread`) on arbitrary first bytes: it never panics, and a
//! name it finds is already normalized (lowercase, no trailing dot, not empty).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tls_client_hello(data));
