//! The parsed `checks.active` settings, with APISIX's schema defaults: `type` http,
//! `timeout` 1 s, `concurrency` 10, `http_method` GET, `http_path` `/`,
//! `https_verify_certificate` true, `healthy.interval` 1 s, `healthy.http_statuses`
//! [200, 302], `unhealthy.interval` 1 s, `unhealthy.http_statuses`
//! [429, 404, 500, 501, 502, 503, 504, 505]. The thresholds (`successes`, `tcp_failures`,
//! `timeouts`, `http_failures`) live with the node state (`balancer::health`).

use std::time::Duration;

use serde_json::Value;

/// `checks.active.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Tcp,
    Http,
    Https,
}

/// `checks.active`.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub kind: ProbeKind,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Probe this port instead of the node's.
    pub port: Option<u16>,
    /// Host header and SNI instead of the node host.
    pub host: Option<String>,
    pub http_method: String,
    pub http_path: String,
    pub http_req_body: String,
    pub req_headers: Vec<String>,
    pub verify_certificate: bool,
    pub healthy_interval: Duration,
    pub unhealthy_interval: Duration,
    pub healthy_statuses: Vec<u16>,
    pub unhealthy_statuses: Vec<u16>,
}

impl Default for Active {
    fn default() -> Self {
        Active {
            kind: ProbeKind::Http,
            timeout: Duration::from_secs(1),
            concurrency: 10,
            port: None,
            host: None,
            http_method: "GET".into(),
            http_path: "/".into(),
            http_req_body: String::new(),
            req_headers: Vec::new(),
            verify_certificate: true,
            healthy_interval: Duration::from_secs(1),
            unhealthy_interval: Duration::from_secs(1),
            healthy_statuses: vec![200, 302],
            unhealthy_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
        }
    }
}

fn secs(v: Option<&Value>, default: Duration) -> Duration {
    v.and_then(Value::as_f64)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

fn statuses(v: Option<&Value>, default: Vec<u16>) -> Vec<u16> {
    match v.and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_u64)
            .filter_map(|n| u16::try_from(n).ok())
            .collect(),
        None => default,
    }
}

impl Active {
    /// `checks.active` of an upstream's `checks`; `None` without one.
    pub fn parse(checks: Option<&Value>) -> Option<Active> {
        let a = checks?.get("active")?;
        let d = Active::default();
        let text = |key: &str, default: String| {
            a.get(key)
                .and_then(Value::as_str)
                .map_or(default, str::to_owned)
        };
        Some(Active {
            kind: match a.get("type").and_then(Value::as_str) {
                Some("tcp") => ProbeKind::Tcp,
                Some("https") => ProbeKind::Https,
                _ => ProbeKind::Http,
            },
            timeout: secs(a.get("timeout"), d.timeout),
            concurrency: a
                .get("concurrency")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .unwrap_or(d.concurrency),
            port: a
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok()),
            host: a.get("host").and_then(Value::as_str).map(str::to_owned),
            http_method: text("http_method", d.http_method),
            http_path: text("http_path", d.http_path),
            http_req_body: text("http_req_body", d.http_req_body),
            req_headers: a
                .get("req_headers")
                .and_then(Value::as_array)
                .map(|h| {
                    h.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            verify_certificate: a
                .get("https_verify_certificate")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            healthy_interval: secs(a.pointer("/healthy/interval"), d.healthy_interval),
            unhealthy_interval: secs(a.pointer("/unhealthy/interval"), d.unhealthy_interval),
            healthy_statuses: statuses(a.pointer("/healthy/http_statuses"), d.healthy_statuses),
            unhealthy_statuses: statuses(
                a.pointer("/unhealthy/http_statuses"),
                d.unhealthy_statuses,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_the_apisix_schema() {
        let active = Active::parse(Some(&json!({"active": {}}))).expect("active");
        assert_eq!(active, Active::default());
        assert_eq!(
            active.kind,
            ProbeKind::Http,
            "APISIX's default probe is http"
        );
        assert!(Active::parse(Some(&json!({"passive": {}}))).is_none());
    }

    #[test]
    fn settings_are_read() {
        let checks = json!({"active": {"type": "https", "timeout": 0.5, "port": 8443,
            "host": "api.local", "http_path": "/healthz", "req_headers": ["X-A: 1"],
            "https_verify_certificate": false, "concurrency": 2,
            "healthy": {"interval": 2, "http_statuses": [204]},
            "unhealthy": {"interval": 3, "http_statuses": [500]}}});
        let a = Active::parse(Some(&checks)).expect("active");
        assert_eq!(a.kind, ProbeKind::Https);
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert_eq!((a.port, a.host.as_deref()), (Some(8443), Some("api.local")));
        assert_eq!(a.http_path, "/healthz");
        assert_eq!(a.req_headers, ["X-A: 1"]);
        assert!(!a.verify_certificate);
        assert_eq!(a.concurrency, 2);
        assert_eq!(
            (a.healthy_interval, a.unhealthy_interval),
            (Duration::from_secs(2), Duration::from_secs(3))
        );
        assert_eq!(
            (a.healthy_statuses.clone(), a.unhealthy_statuses.clone()),
            (vec![204], vec![500])
        );
    }
}
