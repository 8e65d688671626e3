//! The write check of stream routes and the common rules, with APISIX's exact texts.

use serde_json::{json, Value};

use super::*;

pub(super) fn ctx() -> CheckContext {
    let mut ctx = CheckContext {
        stream_plugins: crate::plugins::default_stream_plugins(),
        xrpc_protocols: vec!["redis".to_owned(), "dubbo".to_owned()],
        refs: HashMap::new(),
    };
    ctx.refs.insert(
        (ResourceKind::Upstreams, "1".to_owned()),
        json!({"nodes": {}}),
    );
    ctx.refs
        .insert((ResourceKind::Services, "1".to_owned()), json!({}));
    ctx.refs.insert(
        (ResourceKind::StreamRoutes, "10".to_owned()),
        json!({"protocol": {"name": "redis"}}),
    );
    ctx
}

fn put_err(kind: ResourceKind, id: &str, body: Value) -> String {
    check_write(kind, WriteMethod::Put, Some(id), Some(&body), &ctx())
        .expect_err("write should be rejected")
        .message
}

fn route_err(body: Value) -> String {
    put_err(ResourceKind::StreamRoutes, "1", body)
}

fn route_ok(body: Value) {
    check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        Some("1"),
        Some(&body),
        &ctx(),
    )
    .expect("write should be accepted");
}

#[test]
fn missing_body_is_missing_configurations() {
    let err = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        Some("1"),
        None,
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "missing configurations"
    );
}

#[test]
fn put_without_any_id_is_missing_id() {
    let err = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        None,
        Some(&json!({})),
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "missing stream route id"
    );
    let err = check_write(
        ResourceKind::Upstreams,
        WriteMethod::Put,
        None,
        Some(&json!({})),
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "missing upstream id"
    );
}

#[test]
fn put_takes_the_id_from_the_body() {
    let id = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        None,
        Some(&json!({"id": 7})),
        &ctx(),
    );
    assert_eq!(id.expect("accepted"), Some("7".to_owned()));
}

#[test]
fn post_with_an_id_does_not_need_it() {
    let err = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Post,
        Some("1"),
        Some(&json!({})),
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "wrong stream route id, do not need it"
    );
    let err = check_write(
        ResourceKind::Services,
        WriteMethod::Post,
        None,
        Some(&json!({"id": "a"})),
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "wrong service id, do not need it"
    );
    let ok = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Post,
        None,
        Some(&json!({})),
        &ctx(),
    );
    assert_eq!(ok.expect("accepted"), None);
}

#[test]
fn null_body_id_is_an_id_that_fails_the_schema() {
    let err = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        None,
        Some(&json!({"id": null})),
        &ctx(),
    );
    assert_eq!(
        err.expect_err("should be rejected").message,
        "invalid configuration: property \"id\" validation failed: object matches none of the required"
    );
}

#[test]
fn body_id_differing_from_path_id_is_wrong() {
    assert_eq!(route_err(json!({"id": "2"})), "wrong stream route id");
    route_ok(json!({"id": 1}));
}

#[test]
fn time_fields_are_forbidden_with_two_spaces() {
    assert_eq!(
        route_err(json!({"create_time": 1})),
        "the property is forbidden:  create_time"
    );
    assert_eq!(
        route_err(json!({"update_time": 1})),
        "the property is forbidden:  update_time"
    );
    assert_eq!(
        route_err(json!({"upstream": {"nodes": {}, "create_time": 1}})),
        "the property is forbidden:  upstream.create_time"
    );
    assert_eq!(
        route_err(json!({"plugins": {"update_time": {}}})),
        "the property is forbidden:  plugins.update_time"
    );
}

#[test]
fn server_port_zero_is_below_minimum() {
    assert_eq!(
        route_err(json!({"server_port": 0})),
        "invalid configuration: property \"server_port\" validation failed: expected 0 to be at least 1"
    );
}

#[test]
fn unknown_field_is_an_additional_property() {
    assert_eq!(
        route_err(json!({"uri": "/a"})),
        "invalid configuration: additional properties forbidden, found uri"
    );
}

#[test]
fn bad_id_pattern_matches_none_of_the_required() {
    assert_eq!(
        put_err(ResourceKind::StreamRoutes, "a b", json!({})),
        "invalid configuration: property \"id\" validation failed: object matches none of the required"
    );
}

#[test]
fn remote_addr_must_be_an_ip_or_cidr() {
    assert_eq!(
        route_err(json!({"remote_addr": "a.b"})),
        "invalid configuration: property \"remote_addr\" validation failed: object matches none of the required"
    );
    assert_eq!(
        route_err(json!({"remote_addr": 1})),
        "invalid configuration: property \"remote_addr\" validation failed: wrong type: expected string, got number"
    );
    route_ok(json!({"remote_addr": "127.0.0.0/8", "server_addr": "::1"}));
}

#[test]
fn addresses_the_schema_lets_through_are_parsed_again() {
    assert_eq!(
        route_err(json!({"remote_addr": ":/8"})),
        "invalid remote_addr: :/8"
    );
    assert_eq!(
        route_err(json!({"server_addr": "::/200"})),
        "invalid server_addr: ::/200"
    );
}

#[test]
fn bad_sni_fails_the_host_pattern() {
    assert_eq!(
        route_err(json!({"sni": "a b"})),
        r#"invalid configuration: property "sni" validation failed: failed to match pattern "^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$" with "a b""#
    );
    route_ok(json!({"sni": "*.test.com"}));
}

#[test]
fn snis_is_accepted_but_not_together_with_sni() {
    route_ok(json!({"snis": ["a.test.com", "*.b.com"]}));
    assert_eq!(
        route_err(json!({"sni": "a.com", "snis": ["b.com"]})),
        "invalid configuration: value wasn't supposed to match schema"
    );
    assert_eq!(
        route_err(json!({"snis": []})),
        "invalid configuration: property \"snis\" validation failed: expect array to have at least 1 items"
    );
}

#[test]
fn label_values_must_be_non_blank_strings() {
    assert_eq!(
        route_err(json!({"labels": {"env": "a b"}})),
        r#"invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): failed to match pattern "^\\S+$" with "a b""#
    );
}

#[test]
fn missing_upstream_id_is_a_404() {
    assert_eq!(
        route_err(json!({"upstream_id": 9_999_999_999u64})),
        "failed to fetch upstream info by upstream id [9999999999], response code: 404"
    );
    route_ok(json!({"upstream_id": 1}));
}

#[test]
fn bad_upstream_id_type_matches_none_of_the_required() {
    assert_eq!(
        route_err(json!({"upstream_id": -1})),
        "invalid configuration: property \"upstream_id\" validation failed: object matches none of the required"
    );
}

#[test]
fn missing_service_id_is_a_404() {
    assert_eq!(
        route_err(json!({"service_id": "s9"})),
        "failed to fetch service info by service id [s9], response code: 404"
    );
    route_ok(json!({"service_id": "1"}));
}

#[test]
fn superior_id_rules() {
    assert_eq!(
        route_err(json!({"protocol": {"name": "redis", "superior_id": 1}})),
        "stream route can not set itself as superior_id"
    );
    assert_eq!(
        route_err(json!({"protocol": {"name": "redis", "superior_id": 999}})),
        "failed to fetch stream routes[999], response code: 404"
    );
    assert_eq!(
        route_err(json!({"protocol": {"name": "dubbo", "superior_id": 10}})),
        "protocol mismatch: subordinate protocol [dubbo] does not match superior protocol [redis]"
    );
    route_ok(json!({"protocol": {"name": "redis", "superior_id": "10"}}));
}

#[test]
fn unknown_plugin_is_rejected_before_addresses() {
    assert_eq!(
        route_err(json!({"plugins": {"mqttt-proxy": {}}, "remote_addr": ":/8"})),
        "unknown plugin [mqttt-proxy]"
    );
}

#[test]
fn plugin_schema_failures_carry_the_stream_prefix() {
    assert_eq!(
        route_err(json!({"plugins": {"ip-restriction": {}}})),
        "failed to check the configuration of stream plugin [ip-restriction]: value should match only one schema, but matches none"
    );
    assert_eq!(
        route_err(json!({"plugins": {"mqtt-proxy": {"protocol_name": "MQTT"}}})),
        "failed to check the configuration of stream plugin [mqtt-proxy]: property \"protocol_level\" is required"
    );
}

#[test]
fn plugins_must_be_an_object() {
    assert_eq!(
        route_err(json!({"plugins": [1]})),
        "invalid configuration: property \"plugins\" validation failed: wrong type: expected object, got table"
    );
}

#[test]
fn protocol_name_must_be_registered() {
    assert_eq!(
        route_err(json!({"protocol": {"name": "xxx"}})),
        "unknown protocol [xxx]"
    );
    assert_eq!(
        route_err(json!({"protocol": {}})),
        "invalid configuration: property \"protocol\" validation failed: property \"name\" is required"
    );
}

#[test]
fn protocol_conf_failure_is_the_raw_message() {
    assert_eq!(
        route_err(json!({"protocol": {"name": "redis", "conf": {"faults": "a"}}})),
        "property \"faults\" validation failed: wrong type: expected array, got string"
    );
}

#[test]
fn logger_name_requires_conf() {
    assert_eq!(
        route_err(json!({"protocol": {"name": "redis", "logger": [{"name": "syslog"}]}})),
        "invalid configuration: property \"protocol\" validation failed: property \"logger\" validation failed: failed to validate item 1: property \"conf\" is required when \"name\" is set"
    );
}

#[test]
fn inline_upstream_gets_only_the_schema() {
    route_ok(json!({"upstream": {"type": "chash", "nodes": {"127.0.0.1:70000": 1}}}));
    assert_eq!(
        route_err(json!({"upstream": {"nodes": {"127.0.0.1:80": -1}}})),
        "invalid configuration: property \"upstream\" validation failed: property \"nodes\" validation failed: object matches none of the required"
    );
}

#[test]
fn passive_only_checks_are_rejected_with_the_required_lists() {
    assert_eq!(
        route_err(json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "checks": {"passive": {}}}})),
        r#"invalid configuration: property "upstream" validation failed: property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]"#
    );
}

#[test]
fn nested_health_check_bounds_chain_their_properties() {
    let body = json!({"upstream": {"nodes": {"127.0.0.1:80": 1}, "checks": {"active": {"healthy": {"successes": 255}}}}});
    assert_eq!(
        route_err(body),
        "invalid configuration: property \"upstream\" validation failed: property \"checks\" validation failed: property \"active\" validation failed: property \"healthy\" validation failed: property \"successes\" validation failed: expected 255 to be at most 254"
    );
}

#[test]
fn timeouts_must_be_positive() {
    assert_eq!(
        route_err(json!({"upstream": {"nodes": {}, "timeout": {"connect": 0, "send": 1, "read": 1}}})),
        "invalid configuration: property \"upstream\" validation failed: property \"timeout\" validation failed: property \"connect\" validation failed: expected 0 to be greater than 0"
    );
}

#[test]
fn empty_route_is_a_valid_catch_all() {
    route_ok(json!({}));
}

#[test]
fn references_are_listed_for_prefetch() {
    let body = json!({
        "upstream_id": 1, "service_id": "s", "protocol": {"name": "redis", "superior_id": 3},
        "plugins": {"traffic-split": {"rules": [{"weighted_upstreams": [{"upstream_id": "u2"}, {"weight": 1}]}]}}
    });
    assert_eq!(
        references_of(ResourceKind::StreamRoutes, &body),
        vec![
            (ResourceKind::Upstreams, "1".to_owned()),
            (ResourceKind::Services, "s".to_owned()),
            (ResourceKind::StreamRoutes, "3".to_owned()),
            (ResourceKind::Upstreams, "u2".to_owned()),
        ]
    );
    assert_eq!(
        references_of(
            ResourceKind::Upstreams,
            &json!({"tls": {"client_cert_id": 5}})
        ),
        vec![(ResourceKind::Ssls, "5".to_owned())]
    );
}

#[test]
fn stored_routes_skip_references_and_use_bare_messages() {
    let c = ctx();
    assert!(check_stored(
        ResourceKind::StreamRoutes,
        "1",
        &json!({"upstream_id": 404}),
        &c
    )
    .is_ok());
    assert_eq!(
        check_stored(
            ResourceKind::StreamRoutes,
            "1",
            &json!({"server_port": 0}),
            &c
        )
        .expect_err("should be rejected")
        .message,
        "property \"server_port\" validation failed: expected 0 to be at least 1"
    );
    let body = json!({"plugins": {"x-rewrite": {}}});
    assert_eq!(
        check_stored(ResourceKind::StreamRoutes, "1", &body, &c)
            .expect_err("should be rejected")
            .message,
        "unknown plugin [x-rewrite]"
    );
    let lenient = StoredCheck {
        skip_unknown_plugins: true,
    };
    assert!(check_stored_with(ResourceKind::StreamRoutes, "1", &body, &c, lenient).is_ok());
}

#[test]
fn schema_only_check_has_no_prefix() {
    assert_eq!(
        check_schema_only(ResourceKind::StreamRoutes, &json!({"uri": 1}))
            .expect_err("should be rejected")
            .message,
        "additional properties forbidden, found uri"
    );
}

/// The JSONPath of the rejection of a stream route write.
fn route_err_path(body: Value) -> (String, String) {
    let e = check_write(
        ResourceKind::StreamRoutes,
        WriteMethod::Put,
        Some("1"),
        Some(&body),
        &ctx(),
    )
    .expect_err("write should be rejected");
    (e.path.to_string(), e.message)
}

#[test]
fn errors_point_at_the_value_at_fault() {
    let (path, msg) = route_err_path(json!({"upstream": {"nodes": {"127.0.0.1:80": 1},
        "timeout": {"connect": 1, "send": 1}}}));
    assert_eq!(path, "$.upstream.timeout");
    assert!(msg.ends_with(r#"property "read" is required"#), "{msg}");
    let (path, _) = route_err_path(json!({"upstream": {"nodes": {"127.0.0.1:80": 1},
        "retries": -1}}));
    assert_eq!(path, "$.upstream.retries");
    let (path, _) =
        route_err_path(json!({"upstream": {"nodes": [{"host": "a", "port": 0, "weight": 1}]}}));
    assert_eq!(
        path, "$.upstream.nodes",
        "nodes is an anyOf: the fault is the whole list"
    );
    let (path, _) = route_err_path(json!({"server_port": "x"}));
    assert_eq!(path, "$.server_port");
    let (path, _) = route_err_path(json!({"remote_addr": "10.0.0.0/33"}));
    assert_eq!(path, "$.remote_addr");
    let (path, msg) = route_err_path(json!({"plugins": {"limit-conn": {"conn": 1}}}));
    assert_eq!(path, "$.plugins.limit-conn");
    assert!(msg.contains("stream plugin [limit-conn]"), "{msg}");
    let (path, _) = route_err_path(json!({"upstream_id": "nope"}));
    assert_eq!(path, "$.upstream_id");
    let (path, _) = route_err_path(json!({"bogus": 1}));
    assert_eq!(path, "$.bogus");
    let (path, _) = route_err_path(json!({"id": "2"}));
    assert_eq!(path, "$.id");
}
