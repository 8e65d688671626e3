//! Bounded waits: the only way tests wait for anything. [`within`] bounds one step (connect,
//! read a reply, an API call) and panics naming it; [`eventually`] and [`eventually_true`]
//! poll a condition and panic naming it; [`until`] and [`until_blocking`] poll and return an
//! error instead, for harness code that reports failures as `anyhow` errors.

use std::future::Future;
use std::time::{Duration, Instant};

/// The default time limit for one network step (connect, read a reply, an Admin API call).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a condition is re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Awaits `fut`, or panics naming `what` after [`STEP_TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(STEP_TIMEOUT, what, fut).await
}

/// Awaits `fut`, or panics naming `what` after `limit`.
pub async fn within_for<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls `check` until it returns `Some`, or panics naming `what` once `limit` has passed.
/// A check that has started runs to its end.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > limit {
            panic!("not within {limit:?}: {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls the synchronous `cond` until it holds, or panics naming `what` after `limit`
/// (counters bumped by a server task, possibly just after the client saw the close).
pub async fn eventually_true(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    within_for(limit, what, async {
        while !cond() {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await
}

/// Polls `check` until it returns `Some`, or fails with `what` once `timeout` has passed.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Ok(Some(value)) = tokio::time::timeout(remaining.max(POLL_INTERVAL), check()).await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Like [`until`] for synchronous checks (process exit, files appearing), usable outside a runtime.
pub fn until_blocking<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
