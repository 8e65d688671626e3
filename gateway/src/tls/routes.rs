//! A configuration check: stream routes with `sni`/`snis` only ever match connections that have
//! an SNI, i.e. on `tls: true` or `sni_preread: true` listeners (or with `fallback_sni`).
//! APISIX users hit this silently (issue #6006); we warn once per snapshot that has such routes
//! while no listener can give them an SNI. The same watcher pre-builds the cert index.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::TlsContext;
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
    if settings.sni_listener || settings.fallback_sni.is_some() {
        return None;
    }
    let ids = sni_route_ids(snapshot);
    (!ids.is_empty()).then(|| {
        format!(
            "stream routes {ids:?} set sni, but no stream_proxy.tcp listener has tls or sni_preread: they never match"
        )
    })
}

/// Watches the snapshot of `tls`: logs [`unreachable_sni_warning`] once per new snapshot and,
/// when a listener terminates TLS, builds the new cert index ahead of the next handshake.
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
                        if tls.settings().sni_listener {
                            // Warm the cert index so the next handshake does not parse PEMs.
                            let _ = tls.cert_index();
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
}
