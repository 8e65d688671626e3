//! The DNS part of `apisixctl health`: every node host name of the loaded upstreams (stored
//! ones from `/v1/upstreams`, inline ones of routes and services from `/v1/stream_routes`)
//! with its current answer, TTL and seconds left. Supplementary: a gateway that does not answer
//! one of the two (APISIX has no `/v1/stream_routes`) leaves its part out, with a note on stderr.

use model::client::ControlClient;
use model::control::DnsName;

use crate::output::{paint, Table, Tone};

/// `(upstream key, name)` for every node host name, stored upstreams first.
pub(super) async fn loaded_names(control: &ControlClient) -> Vec<(String, DnsName)> {
    let mut names: Vec<(String, DnsName)> = Vec::new();
    let upstreams = control.upstreams().await.unwrap_or_else(|e| {
        eprintln!("note: DNS names of upstream objects left out: {e}");
        Vec::new()
    });
    for entry in upstreams {
        names.extend(entry.dns.into_iter().map(|n| (entry.key.clone(), n)));
    }
    let routes = control.stream_routes().await.map(|l| l.list);
    let routes = routes.unwrap_or_else(|e| {
        eprintln!("note: DNS names of inline upstreams left out: {e}");
        Vec::new()
    });
    for route in routes {
        let Some(upstream) = route.upstream.filter(|u| u.stored_id().is_none()) else {
            continue;
        };
        for name in upstream.dns {
            if !names
                .iter()
                .any(|(k, n)| *k == upstream.key && n.host == name.host)
            {
                names.push((upstream.key.clone(), name));
            }
        }
    }
    names
}

/// One row per name: `UPSTREAM HOST STATE ADDRESSES TTL EXPIRES_IN FAILURES LAST_ERROR`.
pub(super) fn dns_table(names: &[(String, DnsName)], color: bool) -> Table {
    let mut t = Table::new(&[
        "UPSTREAM",
        "HOST",
        "STATE",
        "ADDRESSES",
        "TTL",
        "EXPIRES_IN",
        "FAILURES",
        "LAST_ERROR",
    ]);
    for (key, name) in names {
        let tone = match name.state.as_str() {
            "resolved" => Tone::Good,
            "failed" => Tone::Bad,
            _ => Tone::Change,
        };
        let or_dash = |s: Option<String>| s.unwrap_or_else(|| "-".to_owned());
        t.rows.push(vec![
            key.clone(),
            name.host.clone(),
            paint(&name.state, tone, color),
            or_dash((!name.addresses.is_empty()).then(|| name.addresses.join(","))),
            or_dash(name.ttl.map(|s| s.to_string())),
            or_dash(name.expires_in.map(|s| format!("{s:.1}"))),
            name.failures.to_string(),
            or_dash(name.last_error.clone()),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_rows_show_addresses_ttl_and_dashes_for_a_name_never_resolved() {
        let resolved = DnsName {
            host: "db.test".into(),
            state: "resolved".into(),
            addresses: vec!["10.0.0.1".into(), "::1".into()],
            ttl: Some(30),
            expires_in: Some(12.34),
            ..DnsName::default()
        };
        let failed = DnsName {
            host: "gone.test".into(),
            state: "failed".into(),
            failures: 3,
            last_error: Some("nxdomain: no record".into()),
            ..DnsName::default()
        };
        let t = dns_table(
            &[
                ("/apisix/upstreams/1".into(), resolved),
                ("stream_routes/7".into(), failed),
            ],
            false,
        );
        assert_eq!(
            t.rows[0],
            [
                "/apisix/upstreams/1",
                "db.test",
                "resolved",
                "10.0.0.1,::1",
                "30",
                "12.3",
                "0",
                "-"
            ]
        );
        assert_eq!(
            t.rows[1],
            [
                "stream_routes/7",
                "gone.test",
                "failed",
                "-",
                "-",
                "-",
                "3",
                "nxdomain: no record"
            ]
        );
    }
}
