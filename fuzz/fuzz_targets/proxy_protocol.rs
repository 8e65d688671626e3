//! The PROXY protocol v1/v2 header parser on arbitrary first bytes of a connection: it never
//! panics, a decided header never claims more bytes than it was given, and a v1 header never
//! exceeds 107 bytes.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::proxy_protocol(data));
