//! Printing `stream-route test` attempts: the block per attempt (or one line each with
//! `--count`), the `route` line naming the confirmed or other route, and the JSON objects.
//! The attempt's result types live here too; `route_test` fills them in.

use std::time::Duration;

use serde_json::{json, Value};

use model::control::Connection;

use super::route_tls::Negotiated;
use crate::context::Ctx;
use crate::output::{paint, Tone};

/// One attempt's result.
#[derive(Debug, Default)]
pub(super) struct Attempt {
    pub(super) connect: Option<Duration>,
    /// TLS handshake time and result with `--tls`.
    pub(super) tls: Option<(Duration, Negotiated)>,
    pub(super) first_byte: Option<Duration>,
    pub(super) reply: Vec<u8>,
    pub(super) closed: bool,
    pub(super) route: Confirmation,
    /// Why the connection was closed without data, per `/v1/match`.
    pub(super) why_closed: Option<String>,
    pub(super) failure: Option<String>,
}

/// What the Control API says about the test connection.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) enum Confirmation {
    /// No Control API call was made (the connection failed first).
    #[default]
    NotAsked,
    /// Listed under the tested route.
    Confirmed(Routed),
    /// Listed under another route.
    Elsewhere(Routed),
    /// The Control API answered but does not list the connection (already closed).
    NotListed,
    /// The Control API did not answer.
    Unavailable(String),
}

/// One `/v1/connections` entry, the fields `stream-route test` reports.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Routed {
    pub(super) route: String,
    pub(super) node: Option<String>,
    pub(super) connection: Option<String>,
}

impl Routed {
    pub(super) fn from_entry(c: &Connection) -> Option<Routed> {
        let route = Some(c.route_id.clone()).filter(|r| !r.is_empty())?;
        Some(Routed {
            route,
            node: c.upstream.clone(),
            connection: Some(c.id.clone()).filter(|id| !id.is_empty()),
        })
    }

    pub(super) fn describe(&self) -> String {
        let mut out = self.route.clone();
        if let Some(node) = &self.node {
            out.push_str(&format!(" via {node}"));
        }
        if let Some(id) = &self.connection {
            out.push_str(&format!(" (connection {id})"));
        }
        out
    }
}

/// Prints one attempt (one line each when `compact`, for `--count`), or collects its JSON.
pub(super) fn report(
    ctx: &Ctx,
    n: u32,
    compact: bool,
    host: &str,
    port: u16,
    a: &Attempt,
    results: &mut Vec<Value>,
) {
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
    let preview: String = String::from_utf8_lossy(&a.reply)
        .chars()
        .take(200)
        .collect();
    if ctx.machine() {
        results.push(json!({
            "attempt": n, "ok": a.failure.is_none(), "connect_ms": ms(a.connect),
            "tls_ms": a.tls.as_ref().map(|t| ms(Some(t.0))),
            "tls_version": a.tls.as_ref().map(|t| t.1.version.clone()),
            "round_trip_ms": ms(a.first_byte), "bytes": a.reply.len(), "reply": preview,
            "closed_by_peer": a.closed, "error": a.failure, "route": route_json(&a.route),
        }));
        return;
    }
    let verdict = match &a.failure {
        None => paint("ok", Tone::Good, ctx.color),
        Some(e) => paint(&format!("FAIL: {e}"), Tone::Bad, ctx.color),
    };
    let fmt = |d: Option<f64>| d.map_or("-".to_owned(), |v| format!("{v:.3} ms"));
    if compact {
        let tls = a
            .tls
            .as_ref()
            .map(|t| format!("  tls {}", fmt(ms(Some(t.0)))))
            .unwrap_or_default();
        println!(
            "#{n} connect {}{tls}  round trip {}  route {}: {verdict}",
            fmt(ms(a.connect)),
            fmt(ms(a.first_byte)),
            route_line(&a.route)
        );
        return;
    }
    println!("#{n} {host}:{port}: {verdict}");
    println!("  connect     {}", fmt(ms(a.connect)));
    if let Some((took, negotiated)) = &a.tls {
        let check = if negotiated.verified {
            "verified"
        } else {
            "not verified"
        };
        println!(
            "  tls         {} ({}, certificate {check})",
            fmt(ms(Some(*took))),
            negotiated.version
        );
    }
    println!("  round trip  {}", fmt(ms(a.first_byte)));
    println!(
        "  reply       {} bytes{}",
        a.reply.len(),
        if a.closed { ", then closed" } else { "" }
    );
    if !preview.is_empty() {
        println!("  data        {:?}", preview);
    }
    println!("  route       {}", route_line(&a.route));
}

/// The `route` line of the table output.
fn route_line(c: &Confirmation) -> String {
    match c {
        Confirmation::Confirmed(r) => format!("{} confirmed", r.describe()),
        Confirmation::Elsewhere(r) => format!("{} (a different route)", r.describe()),
        Confirmation::NotListed => {
            "not confirmed: the control API does not list the connection (already closed)".into()
        }
        Confirmation::Unavailable(e) => format!("not confirmed: control API unavailable: {e}"),
        Confirmation::NotAsked => "not confirmed: no connection".into(),
    }
}

/// The `route` object of the JSON output.
fn route_json(c: &Confirmation) -> Value {
    let routed = |r: &Routed, confirmed: bool| json!({"id": r.route, "node": r.node, "connection": r.connection, "confirmed": confirmed});
    match c {
        Confirmation::Confirmed(r) => routed(r, true),
        Confirmation::Elsewhere(r) => routed(r, false),
        other => json!({"id": null, "confirmed": false, "note": route_line(other)}),
    }
}
