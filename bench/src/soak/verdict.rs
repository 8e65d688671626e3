//! The soak's pass/fail decision, from the readings taken around the load:
//! - RSS and open fds after the load are at most `tolerance` (5 %) above the baseline (a value
//!   below the baseline passes: memory given back is no leak);
//! - no flow saw an error (every echo, churn connection, bulk byte and datagram checked out);
//! - the gateway ended no session with a status other than 200;
//! - every held connection was opened, and each configured flow moved data;
//! - the gateway drained (its taken session slots back to the count before the load: each TCP
//!   listener's accept loop holds one), and finished exactly as many sessions as the driver
//!   made.

use std::fmt;

use super::probe::GatewayReading;
use super::record::ClientReading;

/// The default tolerance: 5 %.
pub const TOLERANCE: f64 = 0.05;

/// What the decision looks at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The gateway before any load (its counters are the zero point).
    pub start: GatewayReading,
    /// The gateway idle before the measured load (after the warm-up, if any).
    pub baseline: GatewayReading,
    /// The gateway idle after the load.
    pub after: GatewayReading,
    /// The driver's counters at the end.
    pub client: ClientReading,
    /// The most held connections open at once during the measured load.
    pub held_peak: u64,
    /// Held connections asked for.
    pub held_wanted: u64,
    /// Whether churn, bulk flows and UDP sessions were asked for (then they must move data).
    pub churn_wanted: bool,
    pub bulk_wanted: bool,
    pub udp_wanted: bool,
}

/// One named check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Every check and the overall result.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub checks: Vec<Check>,
}

impl Verdict {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            writeln!(f, "{mark} {}: {}", c.name, c.detail)?;
        }
        Ok(())
    }
}

/// Whether `after` is at most `tolerance` above `baseline`.
pub fn within(after: u64, baseline: u64, tolerance: f64) -> bool {
    after as f64 <= baseline as f64 * (1.0 + tolerance)
}

/// `after` relative to `baseline`, in percent (+ is above).
pub fn change_percent(after: u64, baseline: u64) -> f64 {
    if baseline == 0 {
        return 0.0;
    }
    (after as f64 / baseline as f64 - 1.0) * 100.0
}

/// The decision.
pub fn decide(e: &Evidence, tolerance: f64) -> Verdict {
    let (base, after) = (&e.baseline, &e.after);
    let limit = |name: &'static str, a: u64, b: u64, unit: &str| Check {
        name,
        passed: within(a, b, tolerance),
        detail: format!(
            "after {a}{unit}, baseline {b}{unit} ({:+.1} %, limit +{:.0} %)",
            change_percent(a, b),
            tolerance * 100.0
        ),
    };
    let failed = after
        .sessions_failed
        .saturating_sub(e.start.sessions_failed);
    let finished = after.sessions_total.saturating_sub(e.start.sessions_total);
    let mut checks = vec![
        limit("rss", after.rss_kb, base.rss_kb, " KiB"),
        limit("fds", after.fds, base.fds, ""),
        Check {
            name: "flow errors",
            passed: e.client.errors == 0,
            detail: format!(
                "{} (connect, timeout, short or differing echo)",
                e.client.errors
            ),
        },
        Check {
            name: "gateway failed sessions",
            passed: failed == 0,
            detail: format!("{failed} sessions ended with a status other than 200"),
        },
        Check {
            name: "held connections",
            passed: e.held_peak >= e.held_wanted,
            detail: format!("{} of {} open at once", e.held_peak, e.held_wanted),
        },
        Check {
            name: "drained",
            passed: after.sessions <= e.start.sessions,
            detail: format!(
                "{} session slots taken after the load, {} before it (idle accept loops)",
                after.sessions, e.start.sessions
            ),
        },
        Check {
            name: "session count",
            passed: finished == e.client.sessions,
            detail: format!(
                "the gateway finished {finished} sessions, the driver made {}",
                e.client.sessions
            ),
        },
    ];
    let moved = [
        (e.churn_wanted, "churn connections", e.client.churn_done),
        (e.bulk_wanted, "bulk bytes", e.client.bulk_bytes),
        (e.udp_wanted, "udp datagrams", e.client.udp_datagrams),
    ];
    for (wanted, name, count) in moved {
        if wanted {
            checks.push(Check {
                name,
                passed: count > 0,
                detail: format!("{count} verified"),
            });
        }
    }
    Verdict { checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(rss_kb: u64, fds: u64) -> GatewayReading {
        GatewayReading {
            rss_kb,
            fds,
            ..GatewayReading::default()
        }
    }

    /// A run that passes: back to the baseline, no errors, counts agree.
    fn good() -> Evidence {
        let mut after = reading(10_400, 40);
        after.sessions_total = 1_000;
        Evidence {
            start: reading(9_000, 30),
            baseline: reading(10_000, 40),
            after,
            client: ClientReading {
                churn_done: 500,
                bulk_bytes: 1 << 20,
                udp_datagrams: 10,
                sessions: 1_000,
                ..ClientReading::default()
            },
            held_peak: 400,
            held_wanted: 400,
            churn_wanted: true,
            bulk_wanted: true,
            udp_wanted: true,
        }
    }

    fn failed(e: &Evidence) -> Vec<&'static str> {
        decide(e, TOLERANCE)
            .checks
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn within_allows_five_percent_above_and_anything_below() {
        assert!(within(105, 100, 0.05));
        assert!(!within(106, 100, 0.05));
        assert!(within(50, 100, 0.05));
        assert!(within(0, 0, 0.05));
        assert!(!within(1, 0, 0.05));
    }

    #[test]
    fn a_clean_run_passes() {
        let verdict = decide(&good(), TOLERANCE);
        assert!(verdict.passed(), "{verdict}");
    }

    #[test]
    fn rss_or_fds_above_the_tolerance_fail() {
        let mut e = good();
        e.after.rss_kb = 10_501;
        assert_eq!(failed(&e), ["rss"]);
        let mut e = good();
        e.after.fds = 43;
        assert_eq!(failed(&e), ["fds"]);
    }

    #[test]
    fn any_error_or_failed_session_fails() {
        let mut e = good();
        e.client.errors = 1;
        assert_eq!(failed(&e), ["flow errors"]);
        let mut e = good();
        e.after.sessions_failed = 1;
        assert_eq!(failed(&e), ["gateway failed sessions"]);
    }

    #[test]
    fn failures_before_the_start_reading_do_not_count() {
        let mut e = good();
        e.start.sessions_failed = 3;
        e.after.sessions_failed = 3;
        assert!(decide(&e, TOLERANCE).passed());
    }

    #[test]
    fn missing_connections_undrained_sessions_or_idle_flows_fail() {
        let mut e = good();
        e.held_peak = 399;
        assert_eq!(failed(&e), ["held connections"]);
        let mut e = good();
        e.start.sessions = 3;
        e.after.sessions = 3;
        assert!(
            decide(&e, TOLERANCE).passed(),
            "the idle accept loops' slots"
        );
        e.after.sessions = 4;
        assert_eq!(failed(&e), ["drained"]);
        let mut e = good();
        e.after.sessions_total = 999;
        assert_eq!(failed(&e), ["session count"]);
        let mut e = good();
        e.client.udp_datagrams = 0;
        assert_eq!(failed(&e), ["udp datagrams"]);
        e.udp_wanted = false;
        assert!(decide(&e, TOLERANCE).passed());
    }
}
