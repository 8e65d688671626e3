//! Upstream faults behind the fault relay: upstream `fault` has two nodes, the relay (in front
//! of echo node `r`) and echo node `h`, `retries: 1` and passive health checks. Each scenario
//! keeps one session per gateway open through the relay across the fault, switches the relay's
//! mode, and runs client sessions through both gateways.

use std::time::Duration;

use e2e::fault_relay::{FaultMode, FaultRelay};
use e2e::fleet::upstream_faults::{attempt, Outcome, CONNECT_TIMEOUT_SECS, PASSIVE_FAILURES};
use e2e::fleet::verdict::Verdict;
use e2e::fleet::workload::LiveSessions;
use e2e::fleet::{Fleet, FleetSpec, FAULT};

use super::{finish_sessions, PHASE, PHASE_ROUND_TRIPS};

/// Added latency per chunk in the delay scenario.
const DELAY: Duration = Duration::from_millis(100);
/// How long passive checks may take to mark the relay node unhealthy.
const MARKED: Duration = Duration::from_secs(10);

/// A fleet with echo nodes `h` and `r`, a relay in front of `r` on the client host, route
/// `fault`, and one session per gateway open through the relay.
async fn relay_fleet(label: &str) -> Option<(Fleet, FaultRelay, LiveSessions)> {
    let spec = FleetSpec {
        echoes: vec!["a", "b", "h", "r"],
        fault_listener: true,
        ..FleetSpec::default()
    };
    let fleet = Fleet::start_or_skip(label, spec).await?;
    let relay = FaultRelay::start(fleet.front.client_ip().into(), fleet.echo("r").addr)
        .await
        .expect("start the fault relay");
    fleet
        .install_fault_route(&relay)
        .await
        .expect("route fault reaches both nodes through both gateways");
    let sessions = LiveSessions::open(&fleet.session_targets(FAULT, 1), "r")
        .await
        .expect("sessions through the relay");
    Some((fleet, relay, sessions))
}

/// `per_gateway` client sessions through each gateway's `fault` listener, alternating
/// gateways: `(gateway index, outcome)` in order.
async fn attempts(fleet: &Fleet, per_gateway: usize) -> Vec<(usize, Outcome)> {
    let mut out = Vec::new();
    for _ in 0..per_gateway {
        for gw in 0..fleet.gateways.len() {
            out.push((gw, attempt(fleet.gateways[gw].tcp_addr(FAULT)).await));
        }
    }
    out
}

/// `served by h: 10, by r: 2, closed early: 0, broken: 0, slowest 1.02s`.
fn summary(outcomes: &[(usize, Outcome)]) -> String {
    let served = |n: &str| outcomes.iter().filter(|(_, o)| o.node() == Some(n)).count();
    let closed = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::ClosedEarly(_)))
        .count();
    let broken = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Broken(_)))
        .count();
    let slowest = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Served { elapsed, .. } => Some(*elapsed),
            _ => None,
        })
        .max()
        .unwrap_or_default();
    format!(
        "{} sessions: served by h {}, by r {}, closed early {closed}, broken {broken}, slowest {slowest:.2?}",
        outcomes.len(),
        served("h"),
        served("r")
    )
}

/// Every session was served by node `h`.
fn all_served_by_h(outcomes: &[(usize, Outcome)]) -> anyhow::Result<String> {
    let other: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| o.node() != Some("h"))
        .map(|(gw, o)| format!("gw{}: {o:?}", gw + 1))
        .collect();
    anyhow::ensure!(other.is_empty(), "not served by h:\n{}", other.join("\n"));
    Ok(summary(outcomes))
}

/// Passive checks marked the relay node unhealthy on every gateway.
async fn relay_marked(fleet: &Fleet, relay: &FaultRelay, v: &mut Verdict) {
    for gw in 0..fleet.gateways.len() {
        let marked = fleet
            .wait_node_status(gw, relay.addr, "unhealthy", MARKED)
            .await;
        v.check(
            &format!("gw{} marks the relay node unhealthy (passive)", gw + 1),
            marked.map(|()| format!("{} unhealthy", relay.addr)),
        );
    }
}

/// The gateways logged failed connects to the relay (and so retried the other node).
fn retries_logged(fleet: &Fleet, relay: &FaultRelay) -> anyhow::Result<String> {
    let node = relay.node();
    let mut counts = Vec::new();
    for (i, gw) in fleet.gateways.iter().enumerate() {
        let n = gw
            .log()
            .lines()
            .filter(|l| l.contains("upstream connect failed") && l.contains(&node))
            .count();
        anyhow::ensure!(n > 0, "gw{} logged no failed connect to {node}", i + 1);
        counts.push(format!("gw{}: {n}", i + 1));
    }
    Ok(format!(
        "failed connects to the relay: {}",
        counts.join(", ")
    ))
}

/// Both sessions opened through the relay before the fault are still fine.
/// The relay accepted no connection since it had accepted `before`.
fn accepted_no_more(relay: &FaultRelay, before: u64) -> anyhow::Result<String> {
    match relay.accepted() {
        now if now == before => Ok(format!("{before} accepted in all")),
        now => Err(anyhow::anyhow!("{before} -> {now}")),
    }
}

async fn relayed_sessions_survive(sessions: &LiveSessions, v: &mut Verdict) {
    let trips = sessions.wait_round_trips(PHASE_ROUND_TRIPS, PHASE).await;
    v.check(
        "sessions already relayed keep round-tripping",
        trips.map(|()| format!("{PHASE_ROUND_TRIPS} more each")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_delay_keeps_bytes_exact_and_the_node_healthy() {
    let label = "relay-delay";
    let Some((fleet, relay, sessions)) = relay_fleet(label).await else {
        return;
    };
    let mut v = Verdict::new(label);
    relay
        .set_mode(FaultMode::Delay(DELAY))
        .await
        .expect("delay");
    let outcomes = attempts(&fleet, 6).await;
    let all_served = outcomes.iter().all(|(_, o)| o.node().is_some());
    v.check(
        "every session served, bytes exact",
        if all_served {
            Ok(summary(&outcomes))
        } else {
            Err(anyhow::anyhow!("{}: {outcomes:?}", summary(&outcomes)))
        },
    );
    let fastest_r = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Served { node, elapsed } if node == "r" => Some(*elapsed),
            _ => None,
        })
        .min();
    v.check(
        "sessions through the relay carry the added latency",
        match fastest_r {
            Some(t) if t >= 2 * DELAY => Ok(format!("fastest via the relay {t:.2?}")),
            other => Err(anyhow::anyhow!("fastest via the relay: {other:?}")),
        },
    );
    for gw in 0..fleet.gateways.len() {
        let status = fleet.node_status(gw, relay.addr).await;
        v.check(
            &format!("gw{} keeps the slow node healthy", gw + 1),
            status.and_then(|s| {
                anyhow::ensure!(s == "healthy", "status {s}");
                Ok(s)
            }),
        );
    }
    relayed_sessions_survive(&sessions, &mut v).await;
    fleet.say(&format!(
        "relay bytes (to node, to client): {:?}",
        relay.bytes()
    ));
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_reset_retries_the_other_node_and_marks_the_relay_unhealthy() {
    let label = "relay-reset";
    let Some((fleet, relay, sessions)) = relay_fleet(label).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let accepted = relay.accepted();
    relay.set_mode(FaultMode::Reset).await.expect("reset");
    let outcomes = attempts(&fleet, 6).await;
    v.check("every session served by h", all_served_by_h(&outcomes));
    v.check(
        "retries after refused connects",
        retries_logged(&fleet, &relay),
    );
    relay_marked(&fleet, &relay, &mut v).await;
    v.check(
        "the relay accepted nothing while refusing",
        accepted_no_more(&relay, accepted),
    );
    relayed_sessions_survive(&sessions, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_blackhole_times_out_retries_the_other_node_and_marks_the_relay_unhealthy() {
    let label = "relay-blackhole";
    let Some((fleet, relay, sessions)) = relay_fleet(label).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let accepted = relay.accepted();
    relay
        .set_mode(FaultMode::Blackhole)
        .await
        .expect("blackhole");
    let outcomes = attempts(&fleet, 6).await;
    v.check("every session served by h", all_served_by_h(&outcomes));
    let waited_for_timeout = outcomes.iter().any(|(_, o)| {
        matches!(o, Outcome::Served { elapsed, .. }
            if elapsed.as_secs_f64() >= CONNECT_TIMEOUT_SECS * 0.9)
    });
    v.check(
        "a session waited for the connect timeout, then was retried",
        if waited_for_timeout {
            retries_logged(&fleet, &relay)
        } else {
            Err(anyhow::anyhow!(
                "no session took the connect timeout: {}",
                summary(&outcomes)
            ))
        },
    );
    relay_marked(&fleet, &relay, &mut v).await;
    v.check(
        "the relay accepted no new connection (SYNs dropped)",
        accepted_no_more(&relay, accepted),
    );
    relayed_sessions_survive(&sessions, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_drop_closes_a_few_sessions_cleanly_then_the_relay_is_marked_unhealthy() {
    let label = "relay-drop";
    let Some((fleet, relay, sessions)) = relay_fleet(label).await else {
        return;
    };
    let mut v = Verdict::new(label);
    relay.set_mode(FaultMode::Drop).await.expect("drop");
    let per_gateway = 8;
    let outcomes = attempts(&fleet, per_gateway).await;
    fleet.say(&format!("drop: {}", summary(&outcomes)));
    let broken: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Broken(_)))
        .map(|(_, o)| o)
        .collect();
    v.check(
        "no session got wrong or partial bytes",
        if broken.is_empty() {
            Ok("none broken".to_string())
        } else {
            Err(anyhow::anyhow!("{broken:?}"))
        },
    );
    for gw in 0..fleet.gateways.len() {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|(g, _)| *g == gw)
            .map(|(_, o)| o)
            .collect();
        let closed = mine
            .iter()
            .filter(|o| matches!(o, Outcome::ClosedEarly(_)))
            .count();
        let tail_ok = mine.iter().rev().take(3).all(|o| o.node() == Some("h"));
        v.check(
            &format!(
                "gw{}: at most {PASSIVE_FAILURES} sessions lost to the dropping node, then all served by h",
                gw + 1
            ),
            if closed <= PASSIVE_FAILURES && tail_ok {
                Ok(format!("{closed} closed early of {}", mine.len()))
            } else {
                Err(anyhow::anyhow!("{closed} closed early; outcomes {mine:?}"))
            },
        );
    }
    relay_marked(&fleet, &relay, &mut v).await;
    v.check(
        "the relay dropped connections",
        if relay.dropped() > 0 {
            Ok(format!("{} dropped", relay.dropped()))
        } else {
            Err(anyhow::anyhow!("nothing reached the relay"))
        },
    );
    relayed_sessions_survive(&sessions, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}
