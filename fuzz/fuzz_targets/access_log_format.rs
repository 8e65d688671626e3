//! The stream access-log format parser (`nginx_config.stream.access_log_format`) on arbitrary
//! templates, with both escapes: it never panics, and rendering a session with the compiled
//! format never panics either.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use apisix_gateway::accesslog::format::{Escape, LogFormat};
use apisix_gateway::session::SessionRecord;
use apisix_gateway::conn::Transport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(template) = std::str::from_utf8(data) else {
        return;
    };
    let record = SessionRecord {
        route_id: Some("r\"1\\".to_owned()),
        listener: "0.0.0.0:9100".parse().expect("addr"),
        server: "127.0.0.1:9100".parse().expect("addr"),
        client: "[2001:db8::1]:40000".parse().expect("addr"),
        node: Some("10.0.0.1:80".parse().expect("addr")),
        status: 200,
        bytes_in: 12,
        bytes_out: 34,
        started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        duration: Duration::from_millis(1234),
        transport: Transport::Tcp,
        route_label: None,
        routed: true,
        rejection: None,
        upstream: None,
    };
    for escape in [Escape::Default, Escape::Json] {
        let (format, _unknown) = LogFormat::parse(template, escape);
        let _ = format.render(&record);
    }
});
