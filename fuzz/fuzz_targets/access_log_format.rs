//! The stream access-log format parser (`nginx_config.stream.access_log_format`) on arbitrary
//! templates, with both escapes: it never panics, and rendering a session with the compiled
//! format never panics either.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::access_log_format(data));
