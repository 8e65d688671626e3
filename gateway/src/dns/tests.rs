//! The DNS client against a real DNS server on 127.0.0.1 (`testkit::dns`): A and AAAA, TTL
//! bounds, changing answers, NXDOMAIN, a server that never answers, the grace period, and the
//! refresher stopping with its last holder.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use testkit::dns::DnsServer;
use testkit::wait::{eventually, within};

use super::*;

const LIMIT: Duration = Duration::from_secs(10);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn client(server: &DnsServer, max_ttl: Option<Duration>, grace: Duration) -> Dns {
    Dns::new(DnsSettings {
        servers: vec![server.addr],
        max_ttl,
        query_timeout: Duration::from_millis(300),
        grace,
    })
}

/// A server answering `host` with 127.0.0.1 for `ttl` seconds, a client of it keeping answers
/// `grace` past their TTL, and the name tracked and resolved once.
async fn resolved(ttl: u32, host: &str, grace: Duration) -> (DnsServer, Dns, Arc<TrackedName>) {
    let server = DnsServer::start(ttl).await;
    server.set(host, &[ip("127.0.0.1")]);
    let dns = client(&server, None, grace);
    let name = dns.track(host);
    let first = within("lookup", name.addresses()).await.expect("resolves");
    assert_eq!(first, [ip("127.0.0.1")]);
    (server, dns, name)
}

fn failures(dns: &Dns, host: &str, kind: FailureKind) -> u64 {
    dns.failure_counts()
        .into_iter()
        .find(|(h, k, _)| h == host && *k == kind)
        .map_or(0, |(_, _, n)| n)
}

#[tokio::test]
async fn a_and_aaaa_records_both_resolve_with_the_record_ttl() {
    let server = DnsServer::start(30).await;
    server.set("dual.test", &[ip("::1"), ip("127.0.0.1")]);
    let dns = client(&server, None, DEFAULT_GRACE);
    let name = dns.track("dual.test");
    let addrs = within("lookup", name.addresses()).await.expect("resolves");
    let mut sorted = addrs.clone();
    sorted.sort();
    assert_eq!(sorted, [ip("127.0.0.1"), ip("::1")]);
    let view = name.view(Instant::now());
    assert_eq!(view.state, "resolved");
    assert_eq!(view.addresses, ["127.0.0.1", "::1"], "A records first");
    assert_eq!(view.ttl, Some(30), "the record TTL");
    let next = name.addresses().await.expect("cached");
    assert_ne!(next, addrs, "each call starts one address further");
}

#[tokio::test]
async fn dns_resolver_valid_caps_the_ttl_and_a_zero_ttl_counts_as_one_second() {
    let server = DnsServer::start(3600).await;
    server.set("long.test", &[ip("127.0.0.1")]);
    let capped = client(&server, Some(Duration::from_secs(2)), DEFAULT_GRACE);
    let name = capped.track("long.test");
    within("lookup", name.addresses()).await.expect("resolves");
    assert_eq!(name.view(Instant::now()).ttl, Some(2));

    server.set_ttl(0);
    server.set("zero.test", &[ip("127.0.0.1")]);
    let uncapped = client(&server, None, DEFAULT_GRACE);
    let zero = uncapped.track("zero.test");
    within("lookup", zero.addresses()).await.expect("resolves");
    assert_eq!(zero.view(Instant::now()).ttl, Some(MIN_TTL.as_secs()));
}

#[tokio::test]
async fn a_changed_answer_is_picked_up_after_the_ttl() {
    let (server, dns, name) = resolved(1, "moving.test", DEFAULT_GRACE).await;
    server.set("moving.test", &[ip("127.0.0.2")]);
    eventually("the new answer", LIMIT, || async {
        let addrs = name.addresses().await.ok()?;
        (addrs == [ip("127.0.0.2")]).then_some(())
    })
    .await;
    assert_eq!(failures(&dns, "moving.test", FailureKind::Error), 0);
}

#[tokio::test]
async fn a_name_that_does_not_exist_fails_is_counted_and_unavailable() {
    let server = DnsServer::start(30).await;
    let dns = client(&server, None, DEFAULT_GRACE);
    let name = dns.track("missing.test");
    let err = within("lookup", name.addresses())
        .await
        .expect_err("NXDOMAIN");
    assert!(err.to_string().contains("missing.test"), "{err}");
    assert_eq!(name.status(Instant::now()), NameStatus::Failed);
    assert!(!name.is_available(Instant::now()));
    assert!(failures(&dns, "missing.test", FailureKind::NxDomain) >= 1);
    let view = name.view(Instant::now());
    assert_eq!((view.state.as_str(), view.ttl), ("failed", None));
    assert!(view
        .last_error
        .as_deref()
        .is_some_and(|e| e.starts_with("nxdomain")));

    // It keeps being asked: once the name appears, it becomes usable.
    server.set("missing.test", &[ip("127.0.0.1")]);
    eventually("the name to appear", LIMIT, || async {
        name.addresses().await.ok()
    })
    .await;
}

#[tokio::test]
async fn a_name_without_addresses_is_a_no_records_failure() {
    let server = DnsServer::start(30).await;
    server.set("bare.test", &[]);
    let dns = client(&server, None, DEFAULT_GRACE);
    let name = dns.track("bare.test");
    within("lookup", name.addresses())
        .await
        .expect_err("no A or AAAA record");
    assert!(failures(&dns, "bare.test", FailureKind::NoRecords) >= 1);
    assert_eq!(failures(&dns, "bare.test", FailureKind::NxDomain), 0);
    let view = name.view(Instant::now());
    assert_eq!(
        view.last_error.as_deref(),
        Some("no_records: no A or AAAA record")
    );
}

#[tokio::test]
async fn a_silent_server_keeps_the_last_good_answer_within_the_grace_period() {
    let (server, dns, name) = resolved(1, "quiet.test", DEFAULT_GRACE).await;
    server.go_silent(true);
    eventually("a timed-out refresh", LIMIT, || async {
        (failures(&dns, "quiet.test", FailureKind::Timeout) >= 1).then_some(())
    })
    .await;
    assert_eq!(name.status(Instant::now()), NameStatus::Stale);
    assert_eq!(
        name.addresses().await.expect("last good answer"),
        [ip("127.0.0.1")]
    );
    let view = name.view(Instant::now());
    assert_eq!(view.state, "stale");
    assert!(view.failures >= 1);
}

#[tokio::test]
async fn past_the_grace_period_a_failing_name_becomes_unavailable() {
    let (server, dns, name) = resolved(1, "gone.test", Duration::from_secs(1)).await;
    server.remove("gone.test");
    eventually("the answer to expire", LIMIT, || async {
        name.addresses().await.err()
    })
    .await;
    assert_eq!(name.status(Instant::now()), NameStatus::Failed);
    assert!(failures(&dns, "gone.test", FailureKind::NxDomain) >= 1);
}

#[tokio::test]
async fn a_name_nobody_holds_is_no_longer_asked_for() {
    let (server, dns, name) = resolved(1, "brief.test", DEFAULT_GRACE).await;
    assert!(
        Arc::ptr_eq(&name, &dns.track("brief.test")),
        "one record per name"
    );
    drop(name);
    let asked = server.queries();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        server.queries(),
        asked,
        "no lookups after the last holder left"
    );
}
