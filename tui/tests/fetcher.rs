//! The background fetch publishes the latest result, keeps retrying after a failure at the
//! refresh period, and fetches at once when poked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apisix_tui::fetcher::Fetcher;
use apisix_tui::source::{DataSource, Snapshot, SourceError, TestOutcome, TestRequest};
use async_trait::async_trait;
use serde_json::Value;
use testkit::wait::within_for;

/// Fails the first `failures` snapshots, then answers with the call number as revision.
struct Flaky {
    calls: AtomicUsize,
    failures: usize,
}

#[async_trait]
impl DataSource for Flaky {
    async fn snapshot(&self) -> Result<Snapshot, SourceError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            return Err(SourceError::Transport {
                url: "http://gw".into(),
                message: "connection refused".into(),
            });
        }
        let mut snap = Snapshot::default();
        snap.status.config_revision = n as i64;
        Ok(snap)
    }
    async fn kill_connection(&self, _: &str) -> Result<(), SourceError> {
        Ok(())
    }
    async fn put_route(&self, _: &str, _: &Value) -> Result<(), SourceError> {
        Ok(())
    }
    async fn delete_route(&self, _: &str) -> Result<(), SourceError> {
        Ok(())
    }
    async fn run_test(&self, _: &TestRequest) -> TestOutcome {
        TestOutcome::default()
    }
}

const WAIT: Duration = Duration::from_secs(600);

#[tokio::test(start_paused = true)]
async fn failure_is_published_then_recovers_on_a_later_tick() {
    let source = Arc::new(Flaky {
        calls: AtomicUsize::new(0),
        failures: 2,
    });
    let fetcher = Fetcher::spawn(
        &tokio::runtime::Handle::current(),
        source,
        Duration::from_secs(1),
    );
    let mut rx = fetcher.latest.clone();
    within_for(WAIT, "a published result", rx.changed())
        .await
        .expect("sender alive");
    let first = rx.borrow_and_update().clone().expect("a result");
    assert!(first.is_err_and(|e| e.contains("connection refused")));
    let recovered = within_for(WAIT, "recovery", async {
        loop {
            rx.changed().await.expect("sender alive");
            if let Some(Ok(snap)) = rx.borrow_and_update().clone() {
                return snap;
            }
        }
    })
    .await;
    assert_eq!(recovered.status.config_revision, 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_fetches_before_the_period_ends() {
    let source = Arc::new(Flaky {
        calls: AtomicUsize::new(0),
        failures: 0,
    });
    let period = Duration::from_secs(3600);
    let fetcher = Fetcher::spawn(&tokio::runtime::Handle::current(), source, period);
    let mut rx = fetcher.latest.clone();
    within_for(WAIT, "a published result", rx.changed())
        .await
        .expect("sender alive");
    rx.borrow_and_update();
    let start = tokio::time::Instant::now();
    fetcher.refresh();
    within_for(WAIT, "a published result", rx.changed())
        .await
        .expect("sender alive");
    assert!(start.elapsed() < period, "did not wait for the period");
    let snap = rx.borrow().clone().expect("a result").expect("ok");
    assert_eq!(snap.status.config_revision, 1);
}
