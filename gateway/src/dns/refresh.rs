//! The refresher of one name: look it up, store the answer, sleep for its TTL, again. A
//! failure is counted and logged, keeps the last good answer, and is retried after 1, 2, 4 …
//! [`MAX_RETRY_DELAY`] seconds. The loop ends when the name's last holder drops it.

use std::sync::Weak;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::name::{NameStatus, TrackedName};
use super::Dns;

/// The longest wait between two lookups of a failing name.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Keeps `name` resolved until `stop` is cancelled or the name is dropped.
pub(super) async fn run(name: Weak<TrackedName>, dns: Dns, stop: CancellationToken) {
    let Some(host) = name.upgrade().map(|n| n.host().to_owned()) else {
        return;
    };
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => return,
            result = dns.client().lookup(&host) => result,
        };
        let Some(tracked) = name.upgrade() else {
            return;
        };
        let wait = match result {
            Ok(resolved) => {
                let previous = tracked.record_answer(&resolved);
                let addrs: Vec<String> = resolved.addrs.iter().map(ToString::to_string).collect();
                let ttl_secs = resolved.ttl.as_secs();
                match previous {
                    None => tracing::info!(host, ?addrs, ttl_secs, "dns name resolved"),
                    Some(old) if old != resolved.addrs => {
                        tracing::info!(
                            host,
                            ?addrs,
                            ?old,
                            ttl_secs,
                            "dns answer changed: new connections use the new addresses"
                        )
                    }
                    Some(_) => tracing::debug!(host, ?addrs, ttl_secs, "dns answer refreshed"),
                }
                resolved.ttl
            }
            Err(failure) => {
                dns.count_failure(&host, failure.kind);
                let failures = tracked.record_failure(&failure);
                let retry = retry_delay(failures);
                let status = tracked.status(Instant::now());
                let (reason, error) = (failure.kind.as_str(), failure.message.as_str());
                let retry_secs = retry.as_secs();
                if status == NameStatus::Failed {
                    tracing::warn!(
                        host,
                        reason,
                        error,
                        retry_secs,
                        "dns lookup failed: no usable answer, its nodes are unavailable"
                    );
                } else {
                    tracing::warn!(
                        host,
                        reason,
                        error,
                        retry_secs,
                        "dns lookup failed: keeping the last good answer"
                    );
                }
                retry
            }
        };
        drop(tracked);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// 1 s after the first failure, doubling, at most [`MAX_RETRY_DELAY`].
fn retry_delay(failures: u64) -> Duration {
    let exponent = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(5);
    Duration::from_secs(1u64 << exponent).min(MAX_RETRY_DELAY)
}
