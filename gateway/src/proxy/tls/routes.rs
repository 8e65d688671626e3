//! A configuration check: stream routes with `sni`/`snis` only ever match connections that have
//! an SNI, i.e. on `tls: true` or `sni_preread: true` listeners (or with `fallback_sni`).
//! APISIX users hit this silently (issue #6006); we warn once per snapshot that has such routes
//! while no listener can give them an SNI, and `/v1/match` warns per port
//! ([`sni_warnings_for_port`]).

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::TlsContext;
use crate::config::TcpListen;
use crate::snapshot::Snapshot;

/// How often the watcher looks for a new snapshot.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The ids of routes in `snapshot` that set `sni` or `snis`.
pub fn sni_route_ids(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .route_map
        .values()
        .filter(|r| r.route.sni.is_some() || r.route.snis.as_ref().is_some_and(|s| !s.is_empty()))
        .map(|r| r.id.clone())
        .collect()
}

/// The warning for `snapshot` under the current settings, if one is due.
pub fn unreachable_sni_warning(tls: &TlsContext, snapshot: &Snapshot) -> Option<String> {
    let settings = tls.settings();
    if settings.sni_listener || settings.ssl.fallback_sni.is_some() {
        return None;
    }
    let ids = sni_route_ids(snapshot);
    (!ids.is_empty()).then(|| {
        format!(
            "stream routes {ids:?} set sni, but no stream_proxy.tcp listener has tls or sni_preread: they never match"
        )
    })
}

/// Warnings for a connection on TCP `port` (served by `listen`, if any listener is there):
/// whether an SNI can reach routing on that port at all. A port without `tls` or `sni_preread`
/// gives its connections no SNI (unless `fallback_sni` is set), so `sni` given by the caller is
/// never seen there, and the stream routes that need an SNI and could take that port
/// (`server_port` unset or equal) never match there.
pub fn sni_warnings_for_port(
    snapshot: &Snapshot,
    listen: Option<&TcpListen>,
    fallback_sni: bool,
    port: u16,
    sni: Option<&str>,
) -> Vec<String> {
    let Some(listen) = listen else {
        return Vec::new();
    };
    if listen.tls || listen.sni_preread || fallback_sni {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if let Some(sni) = sni {
        warnings.push(format!(
            "port {port} has neither tls nor sni_preread: its connections carry no sni, so sni {sni:?} never reaches routing there"
        ));
    }
    let ids: Vec<String> = sni_route_ids(snapshot)
        .into_iter()
        .filter(|id| {
            snapshot
                .route(id)
                .is_some_and(|r| r.route.server_port.is_none_or(|p| p == port))
        })
        .collect();
    if !ids.is_empty() {
        warnings.push(format!(
            "stream routes {ids:?} set sni, but port {port} has neither tls nor sni_preread: they never match there"
        ));
    }
    warnings
}

/// Watches the snapshot of `tls`: logs [`unreachable_sni_warning`] once per new snapshot.
/// The task ends when the context is dropped.
pub fn spawn_sni_route_check(tls: &Arc<TlsContext>) {
    let weak: Weak<TlsContext> = Arc::downgrade(tls);
    tokio::spawn(async move {
        let mut last: Option<Arc<Snapshot>> = None;
        loop {
            {
                let Some(tls) = weak.upgrade() else { return };
                if let Some(snapshot) = tls.snapshot() {
                    let changed = !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, &snapshot));
                    if changed {
                        if let Some(warning) = unreachable_sni_warning(&tls, &snapshot) {
                            tracing::warn!(revision = snapshot.revision, "{warning}");
                        }
                        last = Some(snapshot);
                    }
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KeyValue;
    use crate::tls::TlsSettings;

    fn snapshot_with_sni_route() -> Snapshot {
        let kv = KeyValue {
            key: "/apisix/stream_routes/7".into(),
            value: serde_json::json!({"sni": "a.test", "upstream": {"nodes": {"127.0.0.1:1": 1}}}),
            create_revision: 1,
            mod_revision: 1,
            lease: 0,
        };
        crate::snapshot::compile(
            &[kv],
            "/apisix",
            &model::CheckContext::new(vec![], vec![]),
            None,
        )
    }

    #[test]
    fn sni_route_without_sni_listener_is_warned_about() {
        let snapshot = snapshot_with_sni_route();
        let plain = TlsContext::new(None, TlsSettings::default());
        let warning = unreachable_sni_warning(&plain, &snapshot).expect("a warning");
        assert!(warning.contains("\"7\""), "{warning}");
        let tls = TlsContext::new(
            None,
            TlsSettings {
                sni_listener: true,
                ..TlsSettings::default()
            },
        );
        assert_eq!(unreachable_sni_warning(&tls, &snapshot), None);
    }

    fn tcp_listen(tls: bool, sni_preread: bool) -> TcpListen {
        TcpListen {
            addr: "127.0.0.1:9100".parse().expect("addr"),
            tls,
            sni_preread,
            proxy_protocol: false,
            proxy_protocol_to_upstream: None,
        }
    }

    #[test]
    fn port_without_tls_or_preread_warns_about_sni_and_sni_routes() {
        let snapshot = snapshot_with_sni_route();
        let plain = tcp_listen(false, false);
        let warnings = sni_warnings_for_port(&snapshot, Some(&plain), false, 9100, Some("a.test"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("\"a.test\" never reaches routing"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("[\"7\"]"), "{warnings:?}");

        for listen in [tcp_listen(true, false), tcp_listen(false, true)] {
            let none = sni_warnings_for_port(&snapshot, Some(&listen), false, 9100, Some("a.test"));
            assert!(none.is_empty(), "{none:?}");
        }
        let fallback = sni_warnings_for_port(&snapshot, Some(&plain), true, 9100, None);
        assert!(fallback.is_empty(), "{fallback:?}");
        assert!(sni_warnings_for_port(&snapshot, None, false, 9100, None).is_empty());
    }
}
