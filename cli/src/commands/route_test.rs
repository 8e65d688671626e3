//! `stream-route test ID`: connect to the gateway's stream listener for the route (its
//! `server_port`, else the first TCP listener from `/v1/status`, on the host of `--server`),
//! send the payload, read the reply, and time both. Then, with the connection still open, ask
//! the Control API which route and node took it: `/v1/connections?route_id=<ID>&client=<our
//! address>` confirms the route; when that lists nothing, `?client=<our address>` names the
//! route that took it instead (a failure). A connection closed without data is explained
//! through `/v1/match` (`route_explain`). `--tls` does a TLS handshake first (`route_tls`);
//! `--count N` repeats the attempt and summarises connect and round-trip times.

use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use model::client::{ConnectionFilter, ControlClient};
use model::control::{Connection, ControlList, Listener, Status};
use model::ResourceKind;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::route_tls;

use super::route_report::{report, Attempt, Confirmation, Routed};
use crate::args::TestArgs;
use crate::context::Ctx;
use crate::output::print_machine;

/// A byte stream to the gateway: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The TLS side of a test: connector and server name.
struct TlsPlan {
    connector: TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
    verified: bool,
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

/// The first TCP listener's port in a `/v1/status` answer (with `tls`, the first TLS one).
pub fn first_tcp_port(status: &Status, tls: bool) -> Option<u16> {
    status
        .listeners
        .iter()
        .filter(|l| l.protocol.eq_ignore_ascii_case("tcp"))
        .filter(|l| !tls || l.tls)
        .find_map(Listener::port)
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
    first_tcp_port(&status, args.tls).ok_or_else(|| {
        let kind = if args.tls { "tls" } else { "tcp" };
        anyhow!("no {kind} listener in /v1/status; pass --port")
    })
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
    let tls = match args.tls {
        false => None,
        true => {
            let sni = args
                .sni
                .clone()
                .or_else(|| route.get("sni").and_then(Value::as_str).map(str::to_owned));
            Some(TlsPlan {
                connector: route_tls::connector(args.ca.as_deref()).map_err(|e| anyhow!(e))?,
                name: route_tls::server_name(sni.as_deref(), &host).map_err(|e| anyhow!(e))?,
                verified: args.ca.is_some(),
            })
        }
    };
    let mut failures = 0;
    let mut results = Vec::new();
    let mut attempts = Vec::new();
    let count = args.count.max(1);
    for n in 1..=count {
        let a = attempt(
            ctx,
            args,
            &host,
            port,
            payload.as_deref(),
            control.as_ref(),
            tls.as_ref(),
        )
        .await;
        if a.failure.is_some() {
            failures += 1;
        }
        report(ctx, n, count > 1, &host, port, &a, &mut results);
        attempts.push(a);
    }
    let summary = super::route_summary::summarise(
        attempts
            .iter()
            .map(|a| (a.connect, a.tls.as_ref().map(|t| t.0), a.first_byte)),
        failures,
    );
    if ctx.machine() {
        print_machine(
            &json!({"route_id": args.id, "target": format!("{host}:{port}"), "attempts": results,
                    "summary": summary.to_json(), "ok": failures == 0}),
            ctx.output,
        )?;
    } else if count > 1 {
        print!("{}", summary.render());
    }
    if failures > 0 && !ctx.machine() {
        bail!("{failures} of {count} attempts failed");
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
    tls: Option<&TlsPlan>,
) -> Attempt {
    let mut a = Attempt::default();
    let start = Instant::now();
    let tcp = match tokio::time::timeout(ctx.timeout, TcpStream::connect((host, port))).await {
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
    // Taken now: after a reset the socket no longer knows its peer.
    let ends = tcp.local_addr().and_then(|l| Ok((l, tcp.peer_addr()?)));
    let mut stream: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some(plan) => {
            let begun = Instant::now();
            let handshake =
                route_tls::handshake(&plan.connector, plan.name.clone(), tcp, plan.verified);
            match tokio::time::timeout(ctx.timeout, handshake).await {
                Ok(Ok((s, negotiated))) => {
                    a.tls = Some((begun.elapsed(), negotiated));
                    Box::new(s)
                }
                Ok(Err(e)) => {
                    a.failure = Some(e);
                    return a;
                }
                Err(_) => {
                    a.failure = Some(format!("tls handshake: timed out after {:?}", ctx.timeout));
                    return a;
                }
            }
        }
    };
    let sent_at = Instant::now();
    if let Some(p) = payload {
        if let Err(e) = stream.write_all(p.as_bytes()).await {
            a.failure = Some(format!("send: {e}"));
            return a;
        }
    }
    read_reply(&mut stream, args, &mut a, sent_at).await;
    // Asked after the reply, while the connection is still open: by then the gateway has
    // routed it and connected the node, so the registry lists both.
    a.route = match (control, &ends) {
        (Some(control), Ok((local, _))) => confirm(control, &args.id, &local.to_string()).await,
        (None, _) => Confirmation::Unavailable("no control API url".to_owned()),
        (_, Err(e)) => Confirmation::Unavailable(format!("socket addresses: {e}")),
    };
    if let (Some(control), Ok((local, peer)), true) =
        (control, ends, a.closed && a.reply.is_empty())
    {
        a.why_closed = super::route_explain::explain(control, &args.id, local, peer).await;
    }
    if a.failure.is_none() {
        a.failure = judge(args, &a);
    }
    a
}

/// Which route and node took the connection from `client`, per `/v1/connections`.
async fn confirm(control: &ControlClient, route_id: &str, client: &str) -> Confirmation {
    let ask = |route: Option<&str>| ConnectionFilter {
        route_id: route.map(str::to_owned),
        client: Some(client.to_owned()),
        ..ConnectionFilter::default()
    };
    let first = |answer: &ControlList<Connection>| answer.list.iter().find_map(Routed::from_entry);
    match control.connections(&ask(Some(route_id))).await {
        Err(e) => return Confirmation::Unavailable(e.to_string()),
        Ok(answer) => {
            if let Some(r) = first(&answer).filter(|r| r.route == route_id) {
                return Confirmation::Confirmed(r);
            }
        }
    }
    match control.connections(&ask(None)).await {
        Err(e) => Confirmation::Unavailable(e.to_string()),
        Ok(answer) => match first(&answer) {
            Some(r) if r.route == route_id => Confirmation::Confirmed(r),
            Some(r) => Confirmation::Elsewhere(r),
            None => Confirmation::NotListed,
        },
    }
}

async fn read_reply(stream: &mut Box<dyn Io>, args: &TestArgs, a: &mut Attempt, sent_at: Instant) {
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
    if let Confirmation::Elsewhere(other) = &a.route {
        return Some(format!(
            "routed to stream route {}, not {}",
            other.describe(),
            args.id
        ));
    }
    if a.closed && a.reply.is_empty() {
        return Some(match &a.why_closed {
            Some(why) => format!("the connection was closed without data: {why}"),
            None => "the connection was closed without data (no route, no upstream, or a plugin rejected it)".into(),
        });
    }
    if let Some(expect) = &args.expect {
        if !String::from_utf8_lossy(&a.reply).contains(expect.as_str()) {
            return Some(format!("reply does not contain {expect:?}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn escapes_become_control_characters() {
        assert_eq!(unescape(r"PING\r\n"), "PING\r\n");
        assert_eq!(unescape(r"a\\b"), "a\\b");
    }

    #[test]
    fn first_tcp_listener_port_is_found_in_status() {
        // (protocol, address, tls) of each listener.
        let status = |listeners: &[(&str, &str, bool)]| Status {
            listeners: listeners
                .iter()
                .map(|&(protocol, addr, tls)| Listener {
                    protocol: protocol.into(),
                    addr: addr.into(),
                    tls,
                    ..Listener::default()
                })
                .collect(),
            ..Status::default()
        };
        let plain = status(&[("udp", "0.0.0.0:9200", false), ("tcp", "[::]:9100", false)]);
        assert_eq!(first_tcp_port(&plain, false), Some(9100));
        assert_eq!(first_tcp_port(&Status::default(), false), None);
        let with_tls = status(&[
            ("tcp", "0.0.0.0:9100", false),
            ("tcp", "0.0.0.0:9443", true),
        ]);
        assert_eq!(first_tcp_port(&with_tls, true), Some(9443));
    }

    #[test]
    fn closed_without_data_and_wrong_route_fail() {
        let args = TestArgs {
            id: "1".into(),
            payload: None,
            expect: None,
            count: 1,
            tls: false,
            sni: None,
            ca: None,
            port: None,
            read_timeout: Duration::from_secs(1),
        };
        let closed = Attempt {
            closed: true,
            ..Attempt::default()
        };
        assert!(judge(&args, &closed).is_some());
        let elsewhere = Attempt {
            route: Confirmation::Elsewhere(Routed {
                route: "2".into(),
                node: Some("127.0.0.1:1".into()),
                connection: None,
            }),
            reply: b"x".to_vec(),
            ..Attempt::default()
        };
        assert!(judge(&args, &elsewhere)
            .expect("fails")
            .contains("routed to stream route 2 via 127.0.0.1:1, not 1"));
        let fine = Attempt {
            reply: b"pong".to_vec(),
            ..Attempt::default()
        };
        assert!(judge(&args, &fine).is_none());
    }
}
