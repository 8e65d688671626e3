//! PATCH and DELETE, with the deletion constraints.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::admin_support::Server;
use crate::upstream;

#[tokio::test]
async fn patch_on_a_stream_route_is_405() {
    let server = Server::start().await;
    let answer = server
        .call(
            "PATCH",
            "/apisix/admin/stream_routes/1",
            Some(&json!({"desc": "x"})),
        )
        .await;
    assert_eq!(answer.status, 405);
    assert_eq!(
        answer.text,
        "{\"error_msg\":\"not supported `PATCH` method for stream route\"}\n"
    );
}

#[tokio::test]
async fn patch_merges_objects_deletes_nulls_and_keeps_create_time() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/upstreams/1",
        json!({"id": "1", "type": "roundrobin", "desc": "old",
               "nodes": {"127.0.0.1:1980": 1}, "create_time": 1000, "update_time": 1000}),
    );
    let patch = json!({"desc": null, "nodes": {"127.0.0.1:1981": 2}});
    let answer = server
        .call("PATCH", "/apisix/admin/upstreams/1", Some(&patch))
        .await;
    assert_eq!(answer.status, 200);
    let value = &answer.json()["value"];
    assert_eq!(
        value["nodes"],
        json!({"127.0.0.1:1980": 1, "127.0.0.1:1981": 2})
    );
    assert!(value.get("desc").is_none());
    assert_eq!(value["create_time"], 1000);
    assert!(value["update_time"].as_i64().expect("number") > 1000);
    assert_eq!(
        server.store.dump()["/apisix/upstreams/1"].value["nodes"],
        value["nodes"]
    );
}

#[tokio::test]
async fn patch_with_a_sub_path_replaces_that_subtree() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/1", upstream());
    let answer = server
        .call(
            "PATCH",
            "/apisix/admin/upstreams/1/nodes",
            Some(&json!({"10.0.0.1:80": 5})),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["value"]["nodes"], json!({"10.0.0.1:80": 5}));
    assert_eq!(answer.json()["key"], "/apisix/upstreams/1");
}

#[tokio::test]
async fn patch_errors_missing_object_missing_body_and_non_object_body() {
    let server = Server::start().await;
    let missing = server
        .call(
            "PATCH",
            "/apisix/admin/upstreams/9",
            Some(&json!({"desc": "x"})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text, "{\"message\":\"Key not found\"}\n");

    server.store.seed("/apisix/upstreams/1", upstream());
    let no_body = server
        .call("PATCH", "/apisix/admin/upstreams/1", None)
        .await;
    assert_eq!(no_body.status, 400);
    assert_eq!(
        no_body.text,
        "{\"error_msg\":\"missing new configuration\"}\n"
    );
    let scalar = server
        .call("PATCH", "/apisix/admin/upstreams/1", Some(&json!(5)))
        .await;
    assert_eq!(scalar.status, 400);
    assert_eq!(scalar.text, "{\"error_msg\":\"invalid configuration\"}\n");
}

#[tokio::test]
async fn patch_that_loses_the_compare_and_swap_is_503() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/1", upstream());
    let before = server.store.dump();
    server.store.conflict_next_cas.store(true, Ordering::SeqCst);
    let answer = server
        .call(
            "PATCH",
            "/apisix/admin/upstreams/1",
            Some(&json!({"desc": "x"})),
        )
        .await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.text,
        "{\"error_msg\":\"value changed before overwritten\"}\n"
    );
    assert_eq!(server.store.dump(), before);
}

#[tokio::test]
async fn delete_answers_deleted_as_a_string_then_404() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/1", upstream());
    let deleted = server
        .call("DELETE", "/apisix/admin/upstreams/1", None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.text,
        "{\"deleted\":\"1\",\"key\":\"/apisix/upstreams/1\"}\n"
    );
    let again = server
        .call("DELETE", "/apisix/admin/upstreams/1", None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.text, "{\"message\":\"Key not found\"}\n");

    let no_id = server
        .call("DELETE", "/apisix/admin/stream_routes", None)
        .await;
    assert_eq!(no_id.status, 400);
    assert_eq!(no_id.text, "{\"error_msg\":\"missing stream route id\"}\n");
}

#[tokio::test]
async fn service_used_by_a_stream_route_is_kept_unless_forced_exactly() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/services/s1",
        json!({"id": "s1", "upstream": upstream()}),
    );
    server.store.seed(
        "/apisix/stream_routes/r1",
        json!({"id": "r1", "service_id": "s1"}),
    );
    let blocked = server
        .call("DELETE", "/apisix/admin/services/s1", None)
        .await;
    assert_eq!(blocked.status, 400);
    assert_eq!(
        blocked.text,
        "{\"error_msg\":\"can not delete this service directly, stream_route [r1] is still using it now\"}\n"
    );
    let not_forced = server
        .call("DELETE", "/apisix/admin/services/s1?force=1", None)
        .await;
    assert_eq!(not_forced.status, 400);
    let forced = server
        .call("DELETE", "/apisix/admin/services/s1?force=true", None)
        .await;
    assert_eq!(forced.status, 200);
    assert!(!server.store.dump().contains_key("/apisix/services/s1"));
}

#[tokio::test]
async fn upstream_used_by_a_service_or_a_stream_route_is_kept() {
    let server = Server::start().await;
    server.store.seed("/apisix/upstreams/u1", upstream());
    server.store.seed(
        "/apisix/stream_routes/r1",
        json!({"id": "r1", "upstream_id": "u1"}),
    );
    let by_route = server
        .call("DELETE", "/apisix/admin/upstreams/u1", None)
        .await;
    assert_eq!(by_route.status, 400);
    assert_eq!(
        by_route.json()["error_msg"],
        "can not delete this upstream, stream_route [r1] is still using it now"
    );

    server.store.seed(
        "/apisix/services/s1",
        json!({"id": "s1", "upstream_id": "u1"}),
    );
    let by_service = server
        .call("DELETE", "/apisix/admin/upstreams/u1", None)
        .await;
    assert_eq!(by_service.status, 400);
    assert_eq!(
        by_service.json()["error_msg"],
        "can not delete this upstream, service [s1] is still using it now"
    );
    assert!(server.store.dump().contains_key("/apisix/upstreams/u1"));
}

#[tokio::test]
async fn stream_route_used_as_superior_is_kept() {
    let server = Server::start().await;
    server.store.seed(
        "/apisix/stream_routes/sup",
        json!({"id": "sup", "protocol": {"name": "redis"}}),
    );
    server.store.seed(
        "/apisix/stream_routes/sub",
        json!({"id": "sub", "protocol": {"name": "redis", "superior_id": "sup"}}),
    );
    let answer = server
        .call("DELETE", "/apisix/admin/stream_routes/sup", None)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["error_msg"],
        "can not delete this stream route directly, stream route [sub] is still using it as superior_id"
    );
    let sub = server
        .call("DELETE", "/apisix/admin/stream_routes/sub", None)
        .await;
    assert_eq!(sub.status, 200);
}
