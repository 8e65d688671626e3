//! The README walkthrough with a real MariaDB: the `mariadb` client through the gateway's
//! stream port works with a catch-all route, fails with ERROR 2013 (Lost connection) once the
//! route requires another server address/port, and works again when the route names the real
//! listener. The client outputs are printed (run with `--nocapture`) for the README.

use std::time::Duration;

use e2e::gateway::Gateway;
use e2e::mariadb::{ClientRun, MariaDb};
use serde_json::{json, Value};

const APPLY: Duration = Duration::from_secs(5);

/// Runs the client through the gateway until `accept` holds (the route write has applied).
async fn client_until(
    db: &MariaDb,
    gw: &Gateway,
    what: &str,
    accept: impl Fn(&ClientRun) -> bool,
) -> ClientRun {
    let addr = gw.tcp_addr(0);
    let deadline = std::time::Instant::now() + APPLY;
    loop {
        let run = tokio::task::block_in_place(|| db.client(addr, "select 1"))
            .expect("run the mariadb client");
        if accept(&run) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: last client run: exit {:?}\nstdout: {}\nstderr: {}",
            run.code,
            run.stdout,
            run.stderr
        );
        tokio::time::sleep(e2e::wait::POLL_INTERVAL).await;
    }
}

fn show(step: &str, run: &ClientRun) {
    println!(
        "--- {step}\n$ {}\n{}{}(exit {:?})\n",
        run.command, run.stdout, run.stderr, run.code
    );
}

fn mysql_route(db: &MariaDb, extra: Value) -> Value {
    let mut route = json!({
        "upstream": {
            "nodes": {format!("127.0.0.1:{}", db.port): 1},
            "type": "roundrobin"
        }
    });
    if let (Some(r), Some(e)) = (route.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    route
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_client_through_the_gateway_follows_the_stream_route() {
    let db = tokio::task::block_in_place(MariaDb::start)
        .expect("start MariaDB (packages mariadb-server and mariadb-client)");
    let direct = tokio::task::block_in_place(|| db.client(db.addr(), "select 1")).expect("client");
    assert_eq!(
        direct.code,
        Some(0),
        "MariaDB itself must answer: {}",
        direct.stderr
    );

    let gw = Gateway::start_default().await.expect("start gateway");
    let path = "/stream_routes/stream-route-mysql";

    let created = gw.put(path, mysql_route(&db, json!({}))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    println!("--- PUT {path}\n{}\n", created.text);
    let ok = client_until(&db, &gw, "select 1 through the gateway", |r| {
        r.code == Some(0)
    })
    .await;
    show("catch-all route: select 1 through the gateway", &ok);
    assert!(
        ok.stdout.contains("| 1 |"),
        "unexpected output: {}",
        ok.stdout
    );

    let other = gw
        .put(
            path,
            mysql_route(
                &db,
                json!({"server_addr": "127.0.0.111", "server_port": 2000}),
            ),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    let lost = client_until(&db, &gw, "the client to lose the connection", |r| {
        r.code != Some(0)
    })
    .await;
    show("route for server_addr 127.0.0.111, server_port 2000", &lost);
    assert!(
        lost.stderr.contains("ERROR 2013") && lost.stderr.contains("Lost connection"),
        "expected ERROR 2013 Lost connection, got: {}",
        lost.stderr
    );

    let port = gw.config.tcp_ports[0];
    let back = gw
        .put(
            path,
            mysql_route(
                &db,
                json!({"server_addr": "127.0.0.1", "server_port": port}),
            ),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    let again = client_until(&db, &gw, "select 1 to work again", |r| r.code == Some(0)).await;
    show(
        &format!("route for server_addr 127.0.0.1, server_port {port}"),
        &again,
    );
    assert!(
        again.stdout.contains("| 1 |"),
        "unexpected output: {}",
        again.stdout
    );
}
