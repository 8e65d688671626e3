//! `match`: asks the gateway's `/v1/match` which stream route would take a connection and why
//! every other route does not, and renders the answer as a verdict line plus one row per route
//! in evaluation order. Without `--server-addr` the address is taken from the `/v1/status`
//! listener on `--server-port` (the Control API host when that listener binds a wildcard).

use std::net::IpAddr;

use model::client::{ControlClient, ControlGet, MatchQuery};
use model::control::{MatchReport, Status};

use crate::args::MatchArgs;
use crate::context::Ctx;
use crate::output::{paint, print_machine, Table, Tone};

/// `match`.
pub async fn run(ctx: &Ctx, args: &MatchArgs) -> anyhow::Result<u8> {
    let control = ctx.control()?;
    let server_addr = match &args.server_addr {
        Some(addr) => addr.clone(),
        None => default_server_addr(&control, args).await,
    };
    let q = MatchQuery {
        client: args.client.clone(),
        server_addr: Some(server_addr),
        server_port: args.server_port,
        sni: args.sni.clone(),
        protocol: args.protocol.clone(),
    };
    if ctx.machine() {
        print_machine(&control.body(ControlGet::Match(&q)).await?, ctx.output)?;
    } else {
        print!("{}", render(&control.match_route(&q).await?, ctx.color));
    }
    Ok(0)
}

/// The IP of the listener on the asked port, when it binds one address; else the Control
/// API's host (when it is an IP), else `127.0.0.1`.
async fn default_server_addr(control: &ControlClient, args: &MatchArgs) -> String {
    let fallback = control
        .base_url()
        .host_str()
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').to_owned())
        .filter(|h| h.parse::<IpAddr>().is_ok())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let Ok(status) = control.status().await else {
        return fallback;
    };
    let protocol = args.protocol.as_deref().unwrap_or("tcp");
    listener_ip(&status, protocol, args.server_port).unwrap_or(fallback)
}

/// The specific (non-wildcard) IP of the `protocol` listener on `port` in `/v1/status`.
pub fn listener_ip(status: &Status, protocol: &str, port: u16) -> Option<String> {
    status
        .listeners
        .iter()
        .filter(|l| l.protocol.eq_ignore_ascii_case(protocol))
        .filter_map(|l| l.addr.parse::<std::net::SocketAddr>().ok())
        .find(|a| a.port() == port && !a.ip().is_unspecified())
        .map(|a| a.ip().to_string())
}

/// `-` for an empty cell.
fn text(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// The table output: verdict, the connection asked about, one row per route, warnings.
pub fn render(answer: &MatchReport, color: bool) -> String {
    let input = &answer.input;
    let connection = format!(
        "{} {} -> {}:{}{}",
        text(&input.protocol),
        text(&input.client),
        text(&input.server_addr),
        input.server_port,
        input
            .sni
            .as_deref()
            .map(|s| format!(" sni {s}"))
            .unwrap_or_default()
    );
    let mut out = match &answer.matched {
        Some(id) => format!(
            "{} {connection}\n",
            paint(&format!("stream route {id} takes"), Tone::Good, color)
        ),
        None => format!(
            "{} {connection}\n",
            paint("no stream route takes", Tone::Bad, color)
        ),
    };
    if !answer.routes.is_empty() {
        let mut t = Table::new(&["ROUTE", "MATCH", "REASON"]);
        for r in &answer.routes {
            let mut reason = text(r.reason.as_deref().unwrap_or_default()).to_owned();
            if !r.shadowed_by.is_empty() {
                let never = model::shadow::describe(&r.shadowed_by);
                reason.push_str(&format!(" ({never}: it never matches)"));
            }
            t.rows.push(vec![
                text(&r.id).to_owned(),
                (if r.matched { "yes" } else { "no" }).to_owned(),
                reason,
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    for w in &answer.warnings {
        out.push_str(&format!(
            "{} {}\n",
            paint("warning:", Tone::Change, color),
            text(w)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listener_ip_skips_wildcards_and_other_protocols() {
        let status: Status = serde_json::from_value(json!({"listeners": [
            {"protocol": "udp", "addr": "127.0.0.2:9100"},
            {"protocol": "tcp", "addr": "0.0.0.0:9101"},
            {"protocol": "tcp", "addr": "127.0.0.3:9100"}]}))
        .expect("a /v1/status answer");
        assert_eq!(
            listener_ip(&status, "tcp", 9100).as_deref(),
            Some("127.0.0.3")
        );
        assert_eq!(
            listener_ip(&status, "udp", 9100).as_deref(),
            Some("127.0.0.2")
        );
        assert_eq!(listener_ip(&status, "tcp", 9101), None);
    }

    #[test]
    fn render_names_the_match_and_each_reason() {
        let answer: MatchReport = serde_json::from_value(json!({"matched": "b",
            "input": {"client": "10.0.0.1:0", "server_addr": "127.0.0.1", "server_port": 9100,
                      "sni": null, "protocol": "tcp"},
            "routes": [{"id": "a", "matched": false, "reason": "server_port: 9100 does not equal 2000"},
                       {"id": "b", "matched": true, "reason": null},
                       {"id": "c", "matched": false, "reason": "not reached: an earlier route matched",
                        "shadowed_by": ["b"]}],
            "warnings": ["no upstream"]}))
        .expect("a /v1/match answer");
        let text = render(&answer, false);
        assert!(
            text.starts_with("stream route b takes tcp 10.0.0.1:0 -> 127.0.0.1:9100\n"),
            "{text}"
        );
        assert!(
            text.contains("a      no     server_port: 9100 does not equal 2000"),
            "{text}"
        );
        assert!(text.contains("b      yes    -"), "{text}");
        assert!(
            text.contains("c      no     not reached: an earlier route matched (shadowed by stream_route b: it never matches)"),
            "{text}"
        );
        assert!(text.ends_with("warning: no upstream\n"), "{text}");
        let none = render(&MatchReport::default(), false);
        assert!(none.starts_with("no stream route takes"), "{none}");
    }
}
