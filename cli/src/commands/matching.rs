//! `match`: asks the gateway's `/v1/match` which stream route would take a connection and why
//! every other route does not, and renders the answer as a verdict line plus one row per route
//! in evaluation order. Without `--server-addr` the address is taken from the `/v1/status`
//! listener on `--server-port` (the Control API host when that listener binds a wildcard).

use std::net::IpAddr;

use model::client::{ControlClient, MatchQuery};
use serde_json::Value;

use crate::args::MatchArgs;
use crate::context::Ctx;
use crate::output::{cell, paint, print_machine, Table, Tone};

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
    let answer = control.match_route(&q).await?;
    if ctx.machine() {
        print_machine(&answer, ctx.output)?;
    } else {
        print!("{}", render(&answer, ctx.color));
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
pub fn listener_ip(status: &Value, protocol: &str, port: u16) -> Option<String> {
    status
        .get("listeners")?
        .as_array()?
        .iter()
        .filter(|l| {
            l.get("protocol")
                .and_then(Value::as_str)
                .is_none_or(|p| p.eq_ignore_ascii_case(protocol))
        })
        .filter_map(|l| l.get("addr").and_then(Value::as_str))
        .filter_map(|a| a.parse::<std::net::SocketAddr>().ok())
        .find(|a| a.port() == port && !a.ip().is_unspecified())
        .map(|a| a.ip().to_string())
}

/// The table output: verdict, the connection asked about, one row per route, warnings.
pub fn render(answer: &Value, color: bool) -> String {
    let input = answer.get("input").cloned().unwrap_or(Value::Null);
    let text = |k: &str| cell(input.get(k));
    let connection = format!(
        "{} {} -> {}:{}{}",
        text("protocol"),
        text("client"),
        text("server_addr"),
        text("server_port"),
        input
            .get("sni")
            .and_then(Value::as_str)
            .map(|s| format!(" sni {s}"))
            .unwrap_or_default()
    );
    let mut out = match answer.get("matched").and_then(model::types::id_string) {
        Some(id) => format!(
            "{} {connection}\n",
            paint(&format!("stream route {id} takes"), Tone::Good, color)
        ),
        None => format!(
            "{} {connection}\n",
            paint("no stream route takes", Tone::Bad, color)
        ),
    };
    let routes = answer
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !routes.is_empty() {
        let mut t = Table::new(&["ROUTE", "MATCH", "REASON"]);
        for r in &routes {
            let matched = r.get("matched").and_then(Value::as_bool) == Some(true);
            t.rows.push(vec![
                cell(r.get("id")),
                (if matched { "yes" } else { "no" }).to_owned(),
                cell(r.get("reason")),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    for w in answer
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "{} {}\n",
            paint("warning:", Tone::Change, color),
            cell(Some(w))
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
        let status = json!({"listeners": [
            {"protocol": "udp", "addr": "127.0.0.2:9100"},
            {"protocol": "tcp", "addr": "0.0.0.0:9101"},
            {"protocol": "tcp", "addr": "127.0.0.3:9100"}]});
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
        let answer = json!({"matched": "b",
            "input": {"client": "10.0.0.1:0", "server_addr": "127.0.0.1", "server_port": 9100,
                      "sni": null, "protocol": "tcp"},
            "routes": [{"id": "a", "matched": false, "reason": "server_port: 9100 does not equal 2000"},
                       {"id": "b", "matched": true, "reason": null}],
            "warnings": ["no upstream"]});
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
        assert!(text.ends_with("warning: no upstream\n"), "{text}");
        let none = render(&json!({"matched": null, "input": {}}), false);
        assert!(none.starts_with("no stream route takes"), "{none}");
    }
}
