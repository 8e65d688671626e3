//! Several in-process gateways on one real etcd: Admin API writes on one are proxied by the
//! others, roles (control_plane / data_plane), and a gateway that starts before etcd.

mod etcd_support;

use std::time::Duration;

use etcd_support::*;

/// A route to `backend` on any stream port.
fn route_body(backend: std::net::SocketAddr) -> String {
    format!(r#"{{"upstream":{{"type":"roundrobin","nodes":{{"{backend}":1}}}}}}"#)
}

async fn proxied(gateway: &Gateway, msg: &[u8]) -> Option<Vec<u8>> {
    try_round_trip(gateway.stream.expect("stream listener"), msg).await
}

#[tokio::test]
async fn a_route_written_on_one_gateway_is_proxied_by_another_and_deleted_on_both() {
    let etcd = Etcd::start().await;
    let backend = tag_each_read("b1").await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = Gateway::start(
        gateway_config(
            dir_a.path(),
            "traditional",
            "etcd",
            &etcd.endpoint(),
            free_port(),
        ),
        Some(dir_a),
    )
    .await;
    let b = Gateway::start(
        gateway_config(
            dir_b.path(),
            "data_plane",
            "etcd",
            &etcd.endpoint(),
            free_port(),
        ),
        Some(dir_b),
    )
    .await;
    assert_eq!(proxied(&b, b"x").await, None, "no route yet");

    let (status, body) = a
        .admin_call(
            "PUT",
            "/apisix/admin/stream_routes/1",
            Some(&route_body(backend)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reply = eventually("b proxies the new route", Duration::from_secs(2), || {
        proxied(&b, b"hello")
    })
    .await;
    assert_eq!(reply, b"b1:hello");
    let reply = eventually("a proxies its own write", Duration::from_secs(2), || {
        proxied(&a, b"hi")
    })
    .await;
    assert_eq!(reply, b"b1:hi");

    // The stored object is APISIX-shaped and visible to a plain etcd client.
    let mut raw = etcd.client().await;
    let resp = raw
        .get("/apisix/stream_routes/1", None)
        .await
        .expect("raw get");
    let stored: serde_json::Value =
        serde_json::from_slice(resp.kvs()[0].value()).expect("json value");
    assert_eq!(stored["id"], "1");
    assert!(stored["create_time"].is_i64());

    let (status, body) = a
        .admin_call("DELETE", "/apisix/admin/stream_routes/1", None)
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("the route is gone on b", Duration::from_secs(2), || async {
        proxied(&b, b"gone?").await.is_none().then_some(())
    })
    .await;
    eventually("the route is gone on a", Duration::from_secs(2), || async {
        proxied(&a, b"gone?").await.is_none().then_some(())
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_control_plane_serves_the_admin_api_and_a_data_plane_proxies_without_one() {
    let etcd = Etcd::start().await;
    let backend = tag_each_read("cp").await;
    let (dir_c, dir_d) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let dp_admin = free_port();
    let cp = Gateway::start(
        gateway_config(
            dir_c.path(),
            "control_plane",
            "etcd",
            &etcd.endpoint(),
            free_port(),
        ),
        Some(dir_c),
    )
    .await;
    assert_eq!(cp.stream, None, "a control plane has no stream listeners");
    let dp = Gateway::start(
        gateway_config(
            dir_d.path(),
            "data_plane",
            "etcd",
            &etcd.endpoint(),
            dp_admin,
        ),
        Some(dir_d),
    )
    .await;
    // The data plane has no Admin API: its configured admin port is closed.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", dp_admin))
            .await
            .is_err(),
        "a data plane must not listen for the admin api"
    );

    let (status, body) = cp
        .admin_call(
            "PUT",
            "/apisix/admin/stream_routes/r1",
            Some(&route_body(backend)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reply = eventually("the data plane proxies", Duration::from_secs(2), || {
        proxied(&dp, b"ping")
    })
    .await;
    assert_eq!(reply, b"cp:ping");
    // The control plane wrote APISIX's init_dir placeholders; the list hides them.
    let (status, body) = cp
        .admin_call("GET", "/apisix/admin/stream_routes", None)
        .await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["total"], 1, "{body}");
    cp.stop().await;
    dp.stop().await;
}

#[tokio::test]
async fn admin_writes_answer_503_while_etcd_is_down_and_proxying_keeps_the_last_config() {
    let mut etcd = Etcd::start().await;
    let backend = tag_each_read("kept").await;
    let dir = tempfile::tempdir().expect("dir");
    let gw = Gateway::start(
        gateway_config(
            dir.path(),
            "traditional",
            "etcd",
            &etcd.endpoint(),
            free_port(),
        ),
        Some(dir),
    )
    .await;
    let (status, _) = gw
        .admin_call(
            "PUT",
            "/apisix/admin/stream_routes/1",
            Some(&route_body(backend)),
        )
        .await;
    assert_eq!(status, 201);
    eventually("route active", Duration::from_secs(2), || {
        proxied(&gw, b"a")
    })
    .await;

    etcd.stop();
    let started = std::time::Instant::now();
    let (status, body) = gw
        .admin_call(
            "PUT",
            "/apisix/admin/stream_routes/2",
            Some(&route_body(backend)),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("error_msg"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The last snapshot keeps serving.
    assert_eq!(
        proxied(&gw, b"still").await.as_deref(),
        Some(&b"kept:still"[..])
    );

    etcd.restart().await;
    let (status, body) = eventually("admin writes work again", WAIT, || async {
        let answer = gw
            .admin_call("DELETE", "/apisix/admin/stream_routes/1", None)
            .await;
        (answer.0 == 200).then_some(answer)
    })
    .await;
    assert_eq!(status, 200, "{body}");
    eventually("the watch catches up after the restart", WAIT, || async {
        proxied(&gw, b"gone?").await.is_none().then_some(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_gateway_started_before_etcd_serves_once_etcd_is_up() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let config = gateway_config(dir.path(), "data_plane", "etcd", &endpoint, free_port());
    // Start-up waits up to 10 s for a first snapshot, then serves with an empty one.
    let starting = tokio::spawn(Gateway::start(config, Some(dir)));

    let etcd = Etcd::start_on(port).await;
    let backend = tag_each_read("late").await;
    let mut raw = etcd.client().await;
    raw.put(
        "/apisix/stream_routes/1",
        format!(r#"{{"id":"1","upstream":{{"type":"roundrobin","nodes":{{"{backend}":1}}}}}}"#),
        None,
    )
    .await
    .expect("raw put");
    let gw = within("gateway start", starting).await.expect("start task");
    let reply = eventually("the gateway proxies once etcd is up", WAIT, || {
        proxied(&gw, b"late")
    })
    .await;
    assert_eq!(reply, b"late:late");
    gw.stop().await;
}
