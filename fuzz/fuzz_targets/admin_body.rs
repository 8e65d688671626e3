//! Admin API body validation (`model::validate`) for every resource kind and write method:
//! it never panics. The first byte picks the kind and method, the rest is the JSON body.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::admin_body(data));
