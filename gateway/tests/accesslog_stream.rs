//! The stream access log in process: one line per session with nginx's fields, UDP sessions,
//! rejections, and reopening after a rotation (what SIGUSR1 triggers).

mod observe_support;

use observe_support::*;
use serde_json::json;
use tokio::net::UdpSocket;

async fn lines(h: &Harness) -> Vec<String> {
    h.services
        .access_log()
        .expect("access log enabled")
        .flush()
        .await
        .expect("flush");
    std::fs::read_to_string(h.access_log())
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn each_session_gets_one_line_with_status_and_bytes() {
    let echo = tcp_echo().await;
    let routes = vec![("1", route_to(echo, json!({"remote_addr": "127.0.0.1"})))];
    let h = Harness::start(routes, |_| {}).await;
    echo_session("127.0.0.1", h.tcp, b"hello").await;
    rejected_session("127.0.0.3", h.tcp).await;
    h.settle(2).await;
    let mut got = lines(&h).await;
    got.sort();
    assert_eq!(
        got,
        vec![
            format!("127.0.0.1 TCP 200 5 5 {echo} 1"),
            "127.0.0.3 TCP 503 0 0 - -".to_owned(),
        ]
    );
}

#[tokio::test]
async fn udp_sessions_are_logged_when_they_end() {
    let backend = UdpSocket::bind("127.0.0.1:0").await.expect("bind backend");
    let node = backend.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = backend.recv_from(&mut buf).await {
            // Reply twice as long as the request.
            let mut reply = buf[..n].to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = backend.send_to(&reply, from).await;
        }
    });
    let mut body = route_to(node, json!({}));
    body["upstream"]["timeout"] = json!({"connect": 1, "send": 0.2, "read": 0.2});
    let h = Harness::start(vec![("u", body)], |c| {
        c.stream.log.access_log_format =
            "$protocol $status $bytes_sent $bytes_received $route_id".into();
    })
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    client.connect(h.udp).await.expect("connect");
    client.send(b"abc").await.expect("send");
    let mut buf = [0u8; 64];
    let n = within("udp reply", client.recv(&mut buf))
        .await
        .expect("recv");
    assert_eq!(&buf[..n], b"abcabc");
    h.settle(1).await;
    assert_eq!(lines(&h).await, vec!["UDP 200 6 3 u".to_owned()]);
}

#[tokio::test]
async fn reopen_after_rotation_writes_to_a_new_file() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("1", route_to(echo, json!({})))], |c| {
        c.stream.log.access_log_format = "$route_id $bytes_received".into();
    })
    .await;
    echo_session("127.0.0.1", h.tcp, b"one").await;
    h.settle(1).await;
    assert_eq!(lines(&h).await, vec!["1 3".to_owned()]);

    let rotated = h.access_log().with_extension("log.1");
    std::fs::rename(h.access_log(), &rotated).expect("rotate");
    // Until reopened, lines still go to the rotated file (same open file).
    echo_session("127.0.0.1", h.tcp, b"two!").await;
    h.settle(2).await;
    h.services.reopen_logs().await;
    echo_session("127.0.0.1", h.tcp, b"three").await;
    h.settle(3).await;

    assert_eq!(lines(&h).await, vec!["1 5".to_owned()]);
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    assert_eq!(old, "1 3\n1 4\n");
}

#[tokio::test]
async fn json_escape_makes_json_lines() {
    let echo = tcp_echo().await;
    let h = Harness::start(vec![("r\"1", route_to(echo, json!({})))], |c| {
        c.stream.log.access_log_format =
            r#"{"route":"$route_id","status":$status,"client":"$remote_addr","t":"$time_iso8601"}"#
                .into();
        c.stream.log.access_log_format_escape = "json".into();
    })
    .await;
    echo_session("127.0.0.1", h.tcp, b"x").await;
    h.settle(1).await;
    let got = lines(&h).await;
    assert_eq!(got.len(), 1);
    let line: serde_json::Value = serde_json::from_str(&got[0]).expect("a json line");
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "r\"1");
    assert_eq!(line["client"], "127.0.0.1");
}
