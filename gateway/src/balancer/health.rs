//! The health state machine of one node, shared by active probes and passive reports, as
//! lua-resty-healthcheck (the library behind APISIX's checks) keeps it:
//!
//! - four states: `healthy`, `mostly_healthy` (healthy, but failures started), `unhealthy`,
//!   `mostly_unhealthy` (unhealthy, but successes started); the first two take traffic;
//! - four consecutive counters: `success`, `http_failure`, `tcp_failure`, `timeout_failure`.
//!   A failure resets `success`; a success resets the three failure counters;
//! - a report matching the full state (a success on a `healthy` node, a failure on an
//!   `unhealthy` one) is not counted; a counter reaching its limit switches the state; a limit
//!   of 0 disables that kind of report;
//! - forcing a state ([`NodeHealth::force`]) clears the counters.
//!
//! The limits come from `checks.active` for probe results and `checks.passive` for traffic
//! ([`HealthLimits`]); the Control API shows the state and counters as they are here.

use serde_json::Value;

/// A node's health state (`status` in `/v1/healthcheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthStatus {
    #[default]
    Healthy,
    MostlyHealthy,
    MostlyUnhealthy,
    Unhealthy,
}

impl HealthStatus {
    /// APISIX's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::MostlyHealthy => "mostly_healthy",
            HealthStatus::MostlyUnhealthy => "mostly_unhealthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// Whether the balancer uses the node (`healthy` or `mostly_healthy`).
    pub fn takes_traffic(self) -> bool {
        matches!(self, HealthStatus::Healthy | HealthStatus::MostlyHealthy)
    }
}

/// The consecutive counters (`counter` in `/v1/healthcheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounter {
    pub success: u32,
    pub http_failure: u32,
    pub tcp_failure: u32,
    pub timeout_failure: u32,
}

/// One health report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Success,
    HttpFailure,
    TcpFailure,
    Timeout,
}

/// Thresholds of one kind of check (`checks.active` or `checks.passive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub successes: u32,
    pub http_failures: u32,
    pub tcp_failures: u32,
    pub timeouts: u32,
}

impl Limits {
    /// The limit that applies to `report`.
    pub fn of(&self, report: Report) -> u32 {
        match report {
            Report::Success => self.successes,
            Report::HttpFailure => self.http_failures,
            Report::TcpFailure => self.tcp_failures,
            Report::Timeout => self.timeouts,
        }
    }

    fn parse(section: Option<&Value>, defaults: Limits) -> Limits {
        let get = |path: &str, default: u32| {
            section
                .and_then(|s| s.pointer(path))
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(default)
        };
        Limits {
            successes: get("/healthy/successes", defaults.successes),
            http_failures: get("/unhealthy/http_failures", defaults.http_failures),
            tcp_failures: get("/unhealthy/tcp_failures", defaults.tcp_failures),
            timeouts: get("/unhealthy/timeouts", defaults.timeouts),
        }
    }
}

/// The limits of an upstream's `checks` (lua-resty-healthcheck defaults for what is unset:
/// active 2/5/2/3, passive 5/5/2/7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    pub active: Limits,
    pub passive: Limits,
}

impl HealthLimits {
    /// `None` when the upstream has no `checks` (no checker: nothing is counted).
    pub fn from_checks(checks: Option<&Value>) -> Option<HealthLimits> {
        let checks = checks?;
        Some(HealthLimits {
            active: Limits::parse(
                checks.get("active"),
                Limits {
                    successes: 2,
                    http_failures: 5,
                    tcp_failures: 2,
                    timeouts: 3,
                },
            ),
            passive: Limits::parse(
                checks.get("passive"),
                Limits {
                    successes: 5,
                    http_failures: 5,
                    tcp_failures: 2,
                    timeouts: 7,
                },
            ),
        })
    }
}

/// One node's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeHealth {
    pub status: HealthStatus,
    pub counter: HealthCounter,
}

impl NodeHealth {
    /// Applies `report` with threshold `limit`; returns the new state when it changed.
    pub fn report(&mut self, report: Report, limit: u32) -> Option<HealthStatus> {
        if limit == 0 {
            return None;
        }
        let success = report == Report::Success;
        let full = if success {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        if self.status == full {
            return None;
        }
        let c = &mut self.counter;
        let count = if success {
            (c.http_failure, c.tcp_failure, c.timeout_failure) = (0, 0, 0);
            c.success = c.success.saturating_add(1);
            c.success
        } else {
            c.success = 0;
            let slot = match report {
                Report::HttpFailure => &mut c.http_failure,
                Report::TcpFailure => &mut c.tcp_failure,
                Report::Timeout | Report::Success => &mut c.timeout_failure,
            };
            *slot = slot.saturating_add(1);
            *slot
        };
        let failures = c.http_failure + c.tcp_failure + c.timeout_failure;
        let next = if count >= limit {
            full
        } else if self.status == HealthStatus::Healthy && failures > 0 {
            HealthStatus::MostlyHealthy
        } else if self.status == HealthStatus::Unhealthy && c.success > 0 {
            HealthStatus::MostlyUnhealthy
        } else {
            self.status
        };
        if next == self.status {
            return None;
        }
        self.status = next;
        Some(next)
    }

    /// Sets the state outright and clears the counters (`set_target_status`).
    pub fn force(&mut self, healthy: bool) {
        self.status = if healthy {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        self.counter = HealthCounter::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_walk_a_node_down_through_mostly_healthy() {
        let mut h = NodeHealth::default();
        assert_eq!(
            h.report(Report::TcpFailure, 2),
            Some(HealthStatus::MostlyHealthy)
        );
        assert_eq!(h.counter.tcp_failure, 1);
        assert_eq!(
            h.report(Report::TcpFailure, 2),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(
            h.report(Report::TcpFailure, 2),
            None,
            "not counted when fully unhealthy"
        );
        assert_eq!(h.counter.tcp_failure, 2);
    }

    #[test]
    fn successes_bring_it_back_and_reset_failures() {
        let mut h = NodeHealth::default();
        h.force(false);
        h.report(Report::Timeout, 3);
        assert_eq!(
            h.report(Report::Success, 2),
            Some(HealthStatus::MostlyUnhealthy)
        );
        assert_eq!(
            h.counter,
            HealthCounter {
                success: 1,
                ..Default::default()
            }
        );
        assert_eq!(h.report(Report::Success, 2), Some(HealthStatus::Healthy));
        assert_eq!(
            h.report(Report::Success, 2),
            None,
            "healthy nodes do not count successes"
        );
        assert_eq!(h.counter.success, 2);
        assert_eq!(
            h.report(Report::HttpFailure, 5),
            Some(HealthStatus::MostlyHealthy)
        );
        assert_eq!(
            h.counter,
            HealthCounter {
                http_failure: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn a_mostly_healthy_node_recovers_on_successes_without_changing_state_early() {
        let mut h = NodeHealth::default();
        h.report(Report::TcpFailure, 2);
        assert_eq!(
            h.report(Report::Success, 2),
            None,
            "failures cleared, still mostly"
        );
        assert_eq!(h.status, HealthStatus::MostlyHealthy);
        assert_eq!(h.report(Report::Success, 2), Some(HealthStatus::Healthy));
    }

    #[test]
    fn zero_limits_disable_a_report_kind() {
        let mut h = NodeHealth::default();
        assert_eq!(h.report(Report::TcpFailure, 0), None);
        assert_eq!(h.counter, HealthCounter::default());
    }

    #[test]
    fn limits_default_like_lua_resty_healthcheck() {
        assert!(HealthLimits::from_checks(None).is_none());
        let checks = serde_json::json!({"active": {"unhealthy": {"tcp_failures": 1}}});
        let limits = HealthLimits::from_checks(Some(&checks)).expect("checks");
        assert_eq!(limits.active.tcp_failures, 1);
        assert_eq!((limits.active.successes, limits.active.timeouts), (2, 3));
        assert_eq!(
            (limits.passive.tcp_failures, limits.passive.timeouts),
            (2, 7)
        );
    }
}
