//! Fault scenarios on a fleet of hosts on one machine (issue #14, part 4): a real 3-member etcd
//! cluster, two real gateways and echo nodes, each in its own network namespace, with the test
//! process as the client host (see `e2e::fleet` for the layout).
//!
//! - [`etcd_faults`]: etcd leader and follower killed, a gateway cut off from etcd, an etcd
//!   member cut off, quorum lost, the whole cluster restarted. Every scenario keeps long-lived
//!   echo sessions open through both gateways across the fault (random payloads compared byte
//!   for byte), runs Admin API churn (PUT/GET/DELETE of upstreams and stream routes) through
//!   the gateways and requires every request to succeed while a quorum is up, and measures the
//!   time until every gateway is at etcd's revision and serves the newest route.
//! - [`upstream_faults`]: a fault relay in front of one of two upstream nodes (delay, reset,
//!   blackhole, drop): retries to the other node, passive health marking the bad one.
//!
//! Figures are printed as `fleet[<scenario>]: ...` lines (run with `--nocapture`). Needs root
//! (network namespaces) and `etcd`; without namespaces the tests fail saying why, unless
//! `SKIP_NETNS=1` is set.

mod etcd_faults;
mod upstream_faults;

use std::time::{Duration, Instant};

use e2e::wait;

use e2e::fleet::verdict::Verdict;
use e2e::fleet::workload::{check_churn, check_sessions, AdminChurn, LiveSessions};
use e2e::fleet::{Fleet, ETCD_TIMEOUT, STABLE};

/// Longest time from a write to every gateway at etcd's revision and serving it.
const CONVERGE: Duration = Duration::from_secs(30);
/// Longest etcd election after a member dies or is cut off.
const ELECTION: Duration = Duration::from_secs(15);
/// Longest time for etcd members to be healthy again after a restart or heal.
const HEAL: Duration = Duration::from_secs(30);
/// Longest time until Admin writes work again once quorum is back.
const RECOVERY: Duration = Duration::from_secs(40);
/// Longest time for a phase's share of churn requests or session round trips.
const PHASE: Duration = Duration::from_secs(40);
/// Admin requests required during each fault phase (over all churned gateways): two cycles
/// of PUT/PUT/GET/GET/DELETE/DELETE.
const PHASE_REQUESTS: usize = 12;
/// The shortest time a fault is held while load runs through it.
const FAULT_HOLD: Duration = Duration::from_secs(3);
/// Round trips every live session must make during each fault phase.
const PHASE_ROUND_TRIPS: usize = 5;
/// An Admin request while the store is unavailable must answer within this.
const OUTAGE_BOUND: Duration = ETCD_TIMEOUT.saturating_add(Duration::from_millis(1_500));

/// Sessions through both gateways' `stable` listener (2 each), opened before any fault.
async fn open_sessions(fleet: &Fleet) -> LiveSessions {
    LiveSessions::open(&fleet.session_targets(STABLE, 2), "a")
        .await
        .expect("open long-lived sessions through both gateways")
}

/// Holds a fault for at least [`FAULT_HOLD`] while the churn sends [`PHASE_REQUESTS`] more
/// requests and every session makes [`PHASE_ROUND_TRIPS`] more round trips: load *during* it.
async fn load_during(churn: &AdminChurn, sessions: &LiveSessions, v: &mut Verdict, phase: &str) {
    let started = Instant::now();
    let before = churn.attempts();
    let churned = wait::until(
        &format!("{PHASE_REQUESTS} admin requests and {FAULT_HOLD:?} of {phase}"),
        PHASE,
        || async {
            (churn.attempts() >= before + PHASE_REQUESTS && started.elapsed() >= FAULT_HOLD)
                .then_some(())
        },
    )
    .await;
    v.check(
        &format!("admin requests during {phase}"),
        churned.map(|()| {
            format!(
                "{} sent in {:.2?}",
                churn.attempts() - before,
                started.elapsed()
            )
        }),
    );
    let trips = sessions.wait_round_trips(PHASE_ROUND_TRIPS, PHASE).await;
    v.check(
        &format!("live sessions round-trip during {phase}"),
        trips.map(|()| format!("{PHASE_ROUND_TRIPS} more each")),
    );
}

/// Churn through every gateway after the fault: every request must succeed.
async fn churn_after(fleet: &Fleet, v: &mut Verdict) {
    let churn = AdminChurn::start(fleet.admin_targets(&[0, 1]), &fleet.echoes[0].node());
    let waited = churn.wait_attempts(PHASE_REQUESTS, PHASE).await;
    v.check(
        "admin requests after the fault",
        waited.map(|()| format!("{} sent", churn.attempts())),
    );
    v.check(
        "admin API after the fault (both gateways)",
        churn.stop().await.and_then(|s| check_churn(&s, 1)),
    );
}

/// Stops the sessions and records whether every one kept round-tripping exactly.
async fn finish_sessions(sessions: LiveSessions, v: &mut Verdict) {
    v.check(
        "long-lived sessions never interrupted, bytes exact",
        sessions.stop().await.and_then(|s| check_sessions(&s)),
    );
}
