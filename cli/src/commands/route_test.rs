//! `stream-route test ID`: connect to the gateway's stream listener for the route (its
//! `server_port`, else the first TCP listener from `/v1/status`, on the host of `--server`),
//! send the payload, read the reply, and time both. While connected, ask the Control API which
//! route took the connection (`/v1/connections?client=<our address>`), when it answers.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use model::client::{ConnectionFilter, ControlClient};
use model::ResourceKind;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::control::items;
use crate::args::TestArgs;
use crate::context::Ctx;
use crate::output::{paint, print_machine, Tone};

/// One attempt's result.
#[derive(Debug, Default)]
struct Attempt {
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    reply: Vec<u8>,
    closed: bool,
    routed_to: Option<String>,
    failure: Option<String>,
}

/// Replaces `\n`, `\r`, `\t`, `\\` escapes.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The port of a `/v1/status` listener entry: `port`, or the tail of `addr`/`address`/`listen`.
fn listener_port(l: &Value) -> Option<u16> {
    if let Some(p) = l.get("port").and_then(Value::as_u64) {
        return u16::try_from(p).ok();
    }
    ["addr", "address", "listen"]
        .iter()
        .find_map(|k| l.get(*k).and_then(Value::as_str))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
}

/// The first TCP listener's port in a `/v1/status` answer.
pub fn first_tcp_port(status: &Value) -> Option<u16> {
    status
        .get("listeners")
        .and_then(Value::as_array)?
        .iter()
        .filter(|l| {
            l.get("protocol")
                .and_then(Value::as_str)
                .is_none_or(|p| p.eq_ignore_ascii_case("tcp"))
        })
        .find_map(listener_port)
}

async fn resolve_port(ctx: &Ctx, args: &TestArgs, route: &Value) -> anyhow::Result<u16> {
    if let Some(p) = args.port {
        return Ok(p);
    }
    if let Some(p) = route.get("server_port").and_then(Value::as_u64) {
        return u16::try_from(p).map_err(|_| anyhow!("route server_port {p} out of range"));
    }
    let status = ctx
        .control()?
        .status()
        .await
        .context("the route has no server_port; asking the Control API for the listeners")?;
    first_tcp_port(&status).ok_or_else(|| anyhow!("no tcp listener in /v1/status; pass --port"))
}

/// Runs the test; exit 1 when any attempt failed.
pub async fn run(ctx: &Ctx, args: &TestArgs) -> anyhow::Result<u8> {
    let admin = ctx.admin()?;
    let route = admin.get(ResourceKind::StreamRoutes, &args.id).await?.value;
    let port = resolve_port(ctx, args, &route).await?;
    let host = admin
        .base_url()
        .host_str()
        .ok_or_else(|| anyhow!("--server {} has no host", ctx.server))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned();
    let control = ctx.control().ok();
    let payload = args.payload.as_deref().map(unescape);
    let mut failures = 0;
    let mut results = Vec::new();
    for n in 1..=args.count.max(1) {
        let a = attempt(ctx, args, &host, port, payload.as_deref(), control.as_ref()).await;
        if a.failure.is_some() {
            failures += 1;
        }
        report(ctx, n, &host, port, &a, &mut results);
    }
    if ctx.machine() {
        print_machine(
            &json!({"route_id": args.id, "target": format!("{host}:{port}"), "attempts": results,
                    "ok": failures == 0}),
            ctx.output,
        )?;
    }
    if failures > 0 && !ctx.machine() {
        bail!("{failures} of {} attempts failed", args.count.max(1));
    }
    Ok(u8::from(failures > 0))
}

async fn attempt(
    ctx: &Ctx,
    args: &TestArgs,
    host: &str,
    port: u16,
    payload: Option<&str>,
    control: Option<&ControlClient>,
) -> Attempt {
    let mut a = Attempt::default();
    let start = Instant::now();
    let mut stream = match tokio::time::timeout(ctx.timeout, TcpStream::connect((host, port))).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            a.failure = Some(format!("connect to {host}:{port}: {e}"));
            return a;
        }
        Err(_) => {
            a.failure = Some(format!(
                "connect to {host}:{port}: timed out after {:?}",
                ctx.timeout
            ));
            return a;
        }
    };
    a.connect = Some(start.elapsed());
    let sent_at = Instant::now();
    if let Some(p) = payload {
        if let Err(e) = stream.write_all(p.as_bytes()).await {
            a.failure = Some(format!("send: {e}"));
            return a;
        }
    }
    if let (Some(control), Ok(local)) = (control, stream.local_addr()) {
        a.routed_to = routed_route(control, &local.to_string()).await;
    }
    read_reply(&mut stream, args, &mut a, sent_at).await;
    if a.failure.is_none() {
        a.failure = judge(args, &a);
    }
    a
}

async fn routed_route(control: &ControlClient, client: &str) -> Option<String> {
    let filter = ConnectionFilter {
        client: Some(client.to_owned()),
        ..ConnectionFilter::default()
    };
    let answer = control.connections(&filter).await.ok()?;
    items(&answer).iter().find_map(|c| {
        c.get("route_id")
            .or_else(|| c.get("route"))
            .and_then(model::types::id_string)
    })
}

async fn read_reply(stream: &mut TcpStream, args: &TestArgs, a: &mut Attempt, sent_at: Instant) {
    let deadline = tokio::time::Instant::now() + args.read_timeout;
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(expect) = &args.expect {
            if String::from_utf8_lossy(&a.reply).contains(expect.as_str()) {
                return;
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) => {
                a.closed = true;
                return;
            }
            Ok(Ok(n)) => {
                a.first_byte.get_or_insert_with(|| sent_at.elapsed());
                a.reply.extend_from_slice(&buf[..n]);
                // Without --expect the first reply is enough to time the round trip.
                if args.expect.is_none() || a.reply.len() > 1 << 20 {
                    return;
                }
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                // The gateway closes unrouted or failed connections; a reset is a close.
                a.closed = true;
                return;
            }
            Ok(Err(e)) => {
                a.failure = Some(format!("read: {e}"));
                return;
            }
            Err(_) => return,
        }
    }
}

fn judge(args: &TestArgs, a: &Attempt) -> Option<String> {
    if let Some(routed) = &a.routed_to {
        if routed != &args.id {
            return Some(format!("routed to stream route {routed}, not {}", args.id));
        }
    }
    if a.closed && a.reply.is_empty() {
        return Some("the connection was closed without data (no route, no upstream, or a plugin rejected it)".into());
    }
    if let Some(expect) = &args.expect {
        if !String::from_utf8_lossy(&a.reply).contains(expect.as_str()) {
            return Some(format!("reply does not contain {expect:?}"));
        }
    }
    None
}

fn report(ctx: &Ctx, n: u32, host: &str, port: u16, a: &Attempt, results: &mut Vec<Value>) {
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
    let preview: String = String::from_utf8_lossy(&a.reply)
        .chars()
        .take(200)
        .collect();
    if ctx.machine() {
        results.push(json!({
            "attempt": n, "ok": a.failure.is_none(), "connect_ms": ms(a.connect),
            "round_trip_ms": ms(a.first_byte), "bytes": a.reply.len(), "reply": preview,
            "closed_by_peer": a.closed, "routed_to": a.routed_to, "error": a.failure,
        }));
        return;
    }
    let verdict = match &a.failure {
        None => paint("ok", Tone::Good, ctx.color),
        Some(e) => paint(&format!("FAIL: {e}"), Tone::Bad, ctx.color),
    };
    let fmt = |d: Option<f64>| d.map_or("-".to_owned(), |v| format!("{v:.3} ms"));
    println!("#{n} {host}:{port}: {verdict}");
    println!("  connect     {}", fmt(ms(a.connect)));
    println!("  round trip  {}", fmt(ms(a.first_byte)));
    println!(
        "  reply       {} bytes{}",
        a.reply.len(),
        if a.closed { ", then closed" } else { "" }
    );
    if !preview.is_empty() {
        println!("  data        {:?}", preview);
    }
    println!(
        "  route       {}",
        a.routed_to
            .as_deref()
            .unwrap_or("(not confirmed: control API unavailable)")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_control_characters() {
        assert_eq!(unescape(r"PING\r\n"), "PING\r\n");
        assert_eq!(unescape(r"a\\b"), "a\\b");
    }

    #[test]
    fn first_tcp_listener_port_is_found_in_status() {
        let status = json!({"listeners": [
            {"protocol": "udp", "addr": "0.0.0.0:9200"},
            {"protocol": "tcp", "addr": "[::]:9100"}]});
        assert_eq!(first_tcp_port(&status), Some(9100));
        assert_eq!(first_tcp_port(&json!({})), None);
    }

    #[test]
    fn closed_without_data_and_wrong_route_fail() {
        let args = TestArgs {
            id: "1".into(),
            payload: None,
            expect: None,
            count: 1,
            port: None,
            read_timeout: Duration::from_secs(1),
        };
        let closed = Attempt {
            closed: true,
            ..Attempt::default()
        };
        assert!(judge(&args, &closed).is_some());
        let elsewhere = Attempt {
            routed_to: Some("2".into()),
            reply: b"x".to_vec(),
            ..Attempt::default()
        };
        assert!(judge(&args, &elsewhere)
            .expect("fails")
            .contains("routed to stream route 2"));
        let fine = Attempt {
            reply: b"pong".to_vec(),
            ..Attempt::default()
        };
        assert!(judge(&args, &fine).is_none());
    }
}
