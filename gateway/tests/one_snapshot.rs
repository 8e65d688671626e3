//! One connection, one snapshot: a connection pins the configuration at accept and every later
//! stage (routing, the route's plugin chain, its upstream, the log phase's route label) reads
//! that one version. The route is changed while a connection is still in its set-up (waiting
//! for its PROXY protocol header): that connection is served wholly by the old version, the
//! next one wholly by the new version. A connection that mixed them would be refused by the new
//! chain, reach the new upstream, or carry the wrong label.

mod plugins_support;

use std::sync::{Arc, Mutex};

use apisix_gateway::config::TcpListen;
use apisix_gateway::proxy::listener::ListenerSet;
use apisix_gateway::proxy::source::SnapshotRoutes;
use apisix_gateway::proxy::ProxyContext;
use apisix_gateway::session::{SessionPipeline, SessionRecord, SessionSink};
use apisix_gateway::snapshot;
use plugins_support::*;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Keeps every finished session's record.
#[derive(Debug, Default)]
struct Records(Mutex<Vec<SessionRecord>>);

impl SessionSink for Records {
    fn finish(&self, record: &SessionRecord) {
        self.0.lock().expect("records lock").push(record.clone());
    }
}

/// Route 1 named `name` to `backend`, labelled by name in metrics, with `plugins`.
fn route(
    name: &str,
    backend: std::net::SocketAddr,
    plugins: serde_json::Value,
) -> serde_json::Value {
    let mut plugins = plugins;
    plugins["prometheus"] = json!({"prefer_name": true});
    json!({
        "name": name,
        "plugins": plugins,
        "upstream": {"type": "roundrobin", "nodes": nodes(&[backend])},
    })
}

const HEADER: &[u8] = b"PROXY TCP4 127.0.0.1 127.0.0.1 5000 80\r\n";

#[tokio::test]
async fn a_route_changed_during_set_up_never_mixes_versions_in_one_connection() {
    let (old_backend, new_backend) = (Backend::start(b'O').await, Backend::start(b'N').await);
    let shared = snapshot::shared_empty();
    shared.store(Arc::new(compile(&[(
        "stream_routes/1",
        route("v1", old_backend.addr, json!({})),
    )])));
    let records = Arc::new(Records::default());
    let proxy = Arc::new(ProxyContext {
        sessions: Arc::new(SessionPipeline::new().with_sink(records.clone())),
        ..ProxyContext::new(Arc::new(SnapshotRoutes::new(shared.clone())))
    });
    let mut listeners = ListenerSet::new(proxy.clone());
    let listen = TcpListen {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: false,
        sni_preread: false,
        proxy_protocol: true,
        proxy_protocol_to_upstream: None,
    };
    listeners.reconcile(&[listen], &[]).await.expect("bind");
    let gateway = listeners.tcp_addrs()[0];

    // Accepted, and held in its set-up: the PROXY header has not come yet.
    let mut first = within("connect", TcpStream::connect(gateway))
        .await
        .expect("connect");
    eventually("the first connection is accepted", || {
        proxy.stats.tcp_accepted_total() == 1
    })
    .await;

    // The new version: another upstream, and a chain that refuses this client.
    shared.store(Arc::new(compile(&[(
        "stream_routes/1",
        route(
            "v2",
            new_backend.addr,
            json!({"ip-restriction": {"blacklist": ["127.0.0.1"]}}),
        ),
    )])));

    within("header", first.write_all(HEADER))
        .await
        .expect("send the header");
    let mut tag = [0u8; 1];
    within("tag", first.read_exact(&mut tag))
        .await
        .expect("the first connection is served by the old version's chain");
    assert_eq!(tag[0], b'O', "the old version's upstream");

    let (second, _stream) = tag_of(gateway, HEADER).await;
    assert_eq!(second, None, "the next connection meets the new chain");

    drop(first);
    eventually("both sessions are recorded", || {
        records.0.lock().expect("lock").len() == 2
    })
    .await;
    let records = records.0.lock().expect("lock");
    let seen: Vec<(&str, u16)> = records
        .iter()
        .map(|r| (r.route_label.as_deref().unwrap_or(""), r.status))
        .collect();
    assert!(
        seen.contains(&("v1", 200)),
        "first: old label, served: {seen:?}"
    );
    assert!(
        seen.contains(&("v2", 403)),
        "second: new label, refused: {seen:?}"
    );
}
