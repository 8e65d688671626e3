//! The standalone `apisix.yaml` loader on arbitrary text: it never panics; each item it keeps
//! goes through the same validation as the snapshot compiler's.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::standalone_yaml(data));
