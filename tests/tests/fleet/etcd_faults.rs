//! etcd faults: members killed, cut off, quorum lost, the whole cluster restarted.

use std::time::Instant;

use e2e::fleet::verdict::Verdict;
use e2e::fleet::workload::{check_churn, AdminChurn};
use e2e::fleet::{Fleet, FleetSpec, PROBE};

use super::{
    churn_after, finish_sessions, load_during, open_sessions, CONVERGE, ELECTION, HEAL,
    OUTAGE_BOUND, PHASE, PHASE_REQUESTS, PHASE_ROUND_TRIPS, RECOVERY,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_leader_then_follower_killed_admin_and_traffic_never_fail() {
    let label = "kill-leader";
    let Some(mut fleet) = Fleet::start_or_skip(label, FleetSpec::default()).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let sessions = open_sessions(&fleet).await;
    v.value("baseline convergence", fleet.converge(0, CONVERGE).await);
    let churn = AdminChurn::start(fleet.admin_targets(&[0, 1]), &fleet.echoes[0].node());

    let leader = fleet.etcd.wait_leader(ELECTION).await.expect("a leader");
    let killed = Instant::now();
    fleet.etcd.kill9(leader);
    let new_leader = fleet
        .etcd
        .wait_leader(ELECTION)
        .await
        .expect("a new leader");
    fleet.say(&format!(
        "killed leader {}; {} elected after {:.2?}",
        fleet.etcd.members[leader].name,
        fleet.etcd.members[new_leader].name,
        killed.elapsed()
    ));
    load_during(&churn, &sessions, &mut v, "leader down").await;
    fleet
        .etcd
        .start_member(leader)
        .expect("restart the old leader");
    fleet
        .etcd
        .wait_healthy(HEAL)
        .await
        .expect("cluster healthy");

    let old_leader = leader;
    let leader = fleet.etcd.wait_leader(ELECTION).await.expect("a leader");
    let follower = (0..fleet.etcd.members.len())
        .find(|&i| i != leader && i != old_leader)
        .expect("a follower that was not killed before");
    fleet.etcd.kill9(follower);
    fleet.say(&format!(
        "killed follower {}",
        fleet.etcd.members[follower].name
    ));
    load_during(&churn, &sessions, &mut v, "follower down").await;
    fleet
        .etcd
        .start_member(follower)
        .expect("restart the follower");
    fleet
        .etcd
        .wait_healthy(HEAL)
        .await
        .expect("cluster healthy");

    v.check(
        "admin API through both gateways while a quorum was up",
        churn
            .stop()
            .await
            .and_then(|s| check_churn(&s, 2 * PHASE_REQUESTS)),
    );
    v.value("convergence after", fleet.converge(1, CONVERGE).await);
    churn_after(&fleet, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_cut_off_from_etcd_keeps_serving_its_snapshot_and_catches_up() {
    let label = "cut-gateway";
    let Some(mut fleet) = Fleet::start_or_skip(label, FleetSpec::default()).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let sessions = open_sessions(&fleet).await;
    v.value("baseline convergence", fleet.converge(0, CONVERGE).await);
    let churn = AdminChurn::start(fleet.admin_targets(&[1]), &fleet.echoes[0].node());

    fleet
        .set_gateway_etcd_link(0, false)
        .expect("cut gw1 off etcd");
    fleet.say("gw1 cut off from etcd");
    let outage = fleet.expect_store_unavailable(0, OUTAGE_BOUND).await;
    v.check(
        "gw1 (cut off) answers Admin writes 503 in time",
        outage.map(|o| format!("{o:?}")),
    );
    let old = fleet.probe_name().to_string();
    let new = fleet.switch_probe(1).await.expect("write through gw2");
    let served =
        e2e::client::wait_for_greeting(fleet.gateways[1].tcp_addr(PROBE), &new, CONVERGE).await;
    v.check(
        "gw2 serves the write made during the cut",
        served.map(|()| new.clone()),
    );
    let mut stale = Vec::new();
    for _ in 0..3 {
        stale.push(
            fleet
                .probe_greeting(0)
                .await
                .unwrap_or_else(|e| format!("{e:#}")),
        );
    }
    v.check(
        "gw1 keeps proxying with its last snapshot",
        if stale.iter().all(|g| *g == old) {
            Ok(format!("new connections still reach {old}"))
        } else {
            Err(anyhow::anyhow!("new connections through gw1: {stale:?}"))
        },
    );
    load_during(&churn, &sessions, &mut v, "gw1 cut off").await;

    fleet.set_gateway_etcd_link(0, true).expect("heal gw1");
    let healed = Instant::now();
    let caught_up = fleet.wait_converged(&new, CONVERGE).await;
    v.check(
        "gw1 catches up after the heal without a restart",
        caught_up.map(|rev| format!("at revision {rev} after {:.2?}", healed.elapsed())),
    );
    v.check(
        "admin API through gw2 while gw1 was cut off",
        churn
            .stop()
            .await
            .and_then(|s| check_churn(&s, PHASE_REQUESTS)),
    );
    v.value(
        "convergence after (write through gw1)",
        fleet.converge(0, CONVERGE).await,
    );
    churn_after(&fleet, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_member_cut_off_admin_never_fails_and_the_member_catches_up() {
    let label = "cut-member";
    let Some(mut fleet) = Fleet::start_or_skip(label, FleetSpec::default()).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let sessions = open_sessions(&fleet).await;
    v.value("baseline convergence", fleet.converge(0, CONVERGE).await);
    let churn = AdminChurn::start(fleet.admin_targets(&[0, 1]), &fleet.echoes[0].node());

    // m1 is first in every gateway's deployment.etcd.host: the member they talk to first.
    let leader = fleet.etcd.wait_leader(ELECTION).await.expect("a leader");
    let cut = Instant::now();
    fleet
        .etcd
        .set_link(0, &fleet.back, false)
        .expect("cut m1 off");
    let now_leader = fleet.etcd.wait_leader(ELECTION).await.expect("a leader");
    fleet.say(&format!(
        "m1 cut off (leader was {}, now {} after {:.2?})",
        fleet.etcd.members[leader].name,
        fleet.etcd.members[now_leader].name,
        cut.elapsed()
    ));
    load_during(&churn, &sessions, &mut v, "m1 cut off").await;
    v.check(
        "admin API through both gateways while m1 was cut off",
        churn
            .stop()
            .await
            .and_then(|s| check_churn(&s, PHASE_REQUESTS)),
    );
    v.value(
        "convergence during the cut",
        fleet.converge(1, CONVERGE).await,
    );

    fleet.etcd.set_link(0, &fleet.back, true).expect("heal m1");
    let healed = Instant::now();
    let synced = fleet.etcd.wait_members_in_sync(HEAL).await;
    v.check(
        "m1 catches up after the heal",
        synced.map(|rev| format!("all members at {rev} after {:.2?}", healed.elapsed())),
    );
    v.value("convergence after", fleet.converge(0, CONVERGE).await);
    churn_after(&fleet, &mut v).await;
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

/// Kills the members `kill`, checks the outage (Admin 503 in time, proxying with the last
/// snapshot), starts them again and checks the recovery without restarting the gateways.
async fn outage_then_recovery(label: &str, kill: &[usize]) {
    let Some(mut fleet) = Fleet::start_or_skip(label, FleetSpec::default()).await else {
        return;
    };
    let mut v = Verdict::new(label);
    let sessions = open_sessions(&fleet).await;
    v.value("baseline convergence", fleet.converge(0, CONVERGE).await);
    let pids = fleet.gateway_pids();
    let serving = fleet.probe_name().to_string();

    for &i in kill {
        fleet.etcd.kill9(i);
    }
    let names: Vec<&str> = kill
        .iter()
        .map(|&i| fleet.etcd.members[i].name.as_str())
        .collect();
    fleet.say(&format!("killed etcd {names:?}: no quorum"));
    let outages = futures::future::join_all(
        (0..fleet.gateways.len()).map(|gw| fleet.expect_store_unavailable(gw, OUTAGE_BOUND)),
    )
    .await;
    for (gw, outage) in outages.into_iter().enumerate() {
        v.check(
            &format!(
                "gw{} answers Admin writes 503 within {OUTAGE_BOUND:?}",
                gw + 1
            ),
            outage.map(|o| format!("{o:?}")),
        );
    }
    for gw in 0..fleet.gateways.len() {
        let greeting = fleet.probe_greeting(gw).await;
        v.check(
            &format!(
                "gw{} keeps proxying new connections with its last snapshot",
                gw + 1
            ),
            greeting.and_then(|g| {
                anyhow::ensure!(g == serving, "reached {g:?}, not {serving:?}");
                Ok(g)
            }),
        );
    }
    let trips = sessions.wait_round_trips(PHASE_ROUND_TRIPS, PHASE).await;
    v.check(
        "live sessions round-trip without quorum",
        trips.map(|()| format!("{PHASE_ROUND_TRIPS} more each")),
    );

    for &i in kill {
        fleet.etcd.start_member(i).expect("restart member");
    }
    let restarted = Instant::now();
    fleet
        .etcd
        .wait_healthy(HEAL)
        .await
        .expect("cluster healthy again");
    fleet.say(&format!("quorum back after {:.2?}", restarted.elapsed()));
    for gw in 0..fleet.gateways.len() {
        let recovered = fleet.wait_writable(gw, RECOVERY).await;
        v.check(
            &format!("gw{} writes again once quorum is back", gw + 1),
            recovered.map(|_| format!("{:.2?} after the restart", restarted.elapsed())),
        );
    }
    v.value("convergence after", fleet.converge(1, CONVERGE).await);
    churn_after(&fleet, &mut v).await;
    v.check(
        "gateways were never restarted",
        if fleet.gateway_pids() == pids {
            Ok(format!("pids {pids:?}"))
        } else {
            Err(anyhow::anyhow!(
                "pids {pids:?} -> {:?}",
                fleet.gateway_pids()
            ))
        },
    );
    finish_sessions(sessions, &mut v).await;
    v.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_lost_admin_answers_503_in_time_and_proxying_continues() {
    // m2 and m3: m1 stays, as the member every gateway lists first.
    outage_then_recovery("quorum-lost", &[1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_etcd_cluster_restart_recovers_without_restarting_gateways() {
    outage_then_recovery("cluster-restart", &[0, 1, 2]).await;
}
