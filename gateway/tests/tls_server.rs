//! The whole server with a `tls: true` listener: SSL objects and routes stored in the embedded
//! store reach the TLS front through the snapshot watcher.

mod tls_support;

use apisix_gateway::config::{Config, ProxyMode};
use apisix_gateway::server::{LifecycleEvent, Server};
use apisix_gateway::store::embedded::EmbeddedStore;
use apisix_gateway::store::Store;
use serde_json::json;
use tls_support::*;

#[tokio::test]
async fn stored_ssl_object_serves_tls_on_a_started_server() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let mut config = Config::defaults(prefix.path());
    config.proxy_mode = ProxyMode::Stream;
    config.admin.enabled = false;
    config.stream.tcp = vec![tls_listen()];
    config.stream.udp = vec![];
    // Port 0 everywhere: never the defaults a running gateway may hold.
    config.control.enabled = false;
    config.prometheus.enable_export_server = false;

    let ca = Ca::new("server ca");
    let leaf = ca.leaf(&["srv.test"]);
    let backend = tag_then_echo("stored").await;
    {
        let store = EmbeddedStore::open(&config.deployment.data_dir).expect("open store");
        store
            .put("/apisix/ssls/1", &ssl(&leaf, &["srv.test"]), 0)
            .await
            .expect("put ssl");
        store
            .put(
                "/apisix/stream_routes/1",
                &json!({"sni": "srv.test", "upstream": upstream_to(backend)}),
                0,
            )
            .await
            .expect("put route");
    }

    let server = within("start", Server::start(config))
        .await
        .expect("server starts");
    let addr = server.listeners().tcp_addrs()[0];
    let mut s = tls_connect(addr, "srv.test", client_config(ca.roots(), None, true))
        .await
        .expect("handshake with the stored certificate");
    assert_eq!(served_cert(&s), leaf.chain()[0].as_ref());
    assert_eq!(tag_and_echo(&mut s, "e2e").await.expect("echo"), "stored");
    drop(s);

    let (events_tx, events) = tokio::sync::mpsc::channel(1);
    let serving = tokio::spawn(server.serve(events));
    events_tx
        .send(LifecycleEvent::Shutdown)
        .await
        .expect("send shutdown");
    within("shutdown", serving)
        .await
        .expect("serve task")
        .expect("clean exit");
}
