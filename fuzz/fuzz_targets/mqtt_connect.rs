//! The mqtt-proxy CONNECT parser on an arbitrary first packet, for MQTT 3.1.1 and 5: it never
//! panics, and a packet's verdict does not change when more bytes follow it.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mqtt_connect(data));
