//! Plugin conf checks with APISIX's exact texts.

use serde_json::{json, Value};

use super::{check_plugins, default_stream_plugins, CheckStyle};

fn stream_err(plugins: Value) -> String {
    let mut enabled = default_stream_plugins();
    enabled.push("prometheus".to_owned());
    check_plugins(&plugins, &enabled, false, CheckStyle::Stream).expect_err("should be rejected")
}

fn stream_ok(plugins: Value) {
    let mut enabled = default_stream_plugins();
    enabled.push("prometheus".to_owned());
    check_plugins(&plugins, &enabled, false, CheckStyle::Stream).expect("should be accepted");
}

#[test]
fn ip_restriction_without_a_list_matches_no_one_of() {
    assert_eq!(
        stream_err(json!({"ip-restriction": {}})),
        "failed to check the configuration of stream plugin [ip-restriction]: value should match only one schema, but matches none"
    );
}

#[test]
fn ip_restriction_with_both_lists_matches_both() {
    assert_eq!(
        stream_err(json!({"ip-restriction": {"whitelist": ["10.0.0.1"], "blacklist": ["10.0.0.2"]}})),
        "failed to check the configuration of stream plugin [ip-restriction]: value should match only one schema, but matches both schemas 1 and 2"
    );
}

#[test]
fn ip_restriction_entries_are_parsed_for_real() {
    assert_eq!(
        stream_err(json!({"ip-restriction": {"whitelist": [":/8"]}})),
        "failed to check the configuration of stream plugin [ip-restriction]: invalid ip address: :/8"
    );
    stream_ok(json!({"ip-restriction": {"whitelist": ["10.0.0.0/8", "::1"]}}));
}

#[test]
fn ip_restriction_entry_that_is_no_address_fails_the_schema() {
    assert_eq!(
        stream_err(json!({"ip-restriction": {"blacklist": ["example.com"]}})),
        "failed to check the configuration of stream plugin [ip-restriction]: property \"blacklist\" validation failed: failed to validate item 1: object matches none of the required"
    );
}

#[test]
fn limit_conn_requires_its_fields_in_schema_order() {
    assert_eq!(
        stream_err(json!({"limit-conn": {}})),
        "failed to check the configuration of stream plugin [limit-conn]: property \"conn\" is required"
    );
    assert_eq!(
        stream_err(json!({"limit-conn": {"conn": 1, "burst": 0, "default_conn_delay": 0.1}})),
        "failed to check the configuration of stream plugin [limit-conn]: property \"key\" is required"
    );
    assert_eq!(
        stream_err(json!({"limit-conn": {"conn": 0, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr"}})),
        "failed to check the configuration of stream plugin [limit-conn]: property \"conn\" validation failed: expected 0 to be greater than 0"
    );
}

#[test]
fn mqtt_proxy_requires_protocol_level() {
    assert_eq!(
        stream_err(json!({"mqtt-proxy": {"protocol_name": "MQTT"}})),
        "failed to check the configuration of stream plugin [mqtt-proxy]: property \"protocol_level\" is required"
    );
    stream_ok(json!({"mqtt-proxy": {"protocol_level": 4}}));
}

#[test]
fn unknown_and_disabled_plugins_are_unknown() {
    assert_eq!(
        stream_err(json!({"mqttt-proxy": {}})),
        "unknown plugin [mqttt-proxy]"
    );
    let enabled = vec!["limit-conn".to_owned()];
    assert_eq!(
        check_plugins(&json!({"syslog": {}}), &enabled, false, CheckStyle::Stream)
            .expect_err("should be rejected"),
        "unknown plugin [syslog]"
    );
    assert!(check_plugins(&json!({"syslog": {}}), &enabled, true, CheckStyle::Stream).is_ok());
}

#[test]
fn a_conf_that_is_not_an_object_is_reported_as_json() {
    assert_eq!(
        stream_err(json!({"limit-conn": "x/y"})),
        r#"invalid plugin conf "x\/y" for plugin [limit-conn]"#
    );
    assert_eq!(
        stream_err(json!({"anything": 1})),
        "invalid plugin conf 1 for plugin [anything]"
    );
    assert_eq!(
        stream_err(json!({"limit-conn": null})),
        "invalid plugin conf null for plugin [limit-conn]"
    );
}

#[test]
fn a_disabled_conf_may_fail_its_schema() {
    stream_ok(json!({"limit-conn": {"_meta": {"disable": true}}}));
}

#[test]
fn meta_forbids_unknown_fields() {
    assert_eq!(
        stream_err(json!({"prometheus": {"_meta": {"foo": 1}}})),
        "failed to check the configuration of stream plugin [prometheus]: property \"_meta\" validation failed: additional properties forbidden, found foo"
    );
}

#[test]
fn syslog_requires_host_and_port() {
    assert_eq!(
        stream_err(json!({"syslog": {"host": "127.0.0.1"}})),
        "failed to check the configuration of stream plugin [syslog]: property \"port\" is required"
    );
    assert_eq!(
        stream_err(json!({"syslog": {"host": "h", "port": 5044, "sock_type": "sctp"}})),
        "failed to check the configuration of stream plugin [syslog]: property \"sock_type\" validation failed: matches none of the enum values"
    );
}

#[test]
fn traffic_split_checks_vars_expressions_and_upstreams() {
    assert_eq!(
        stream_err(json!({"traffic-split": {"rules": [{"match": [{"vars": ["remote_addr", "==", "1"]}]}]}})),
        "failed to check the configuration of stream plugin [traffic-split]: failed to validate the 'vars' expression: rule should be wrapped inside brackets"
    );
    assert_eq!(
        stream_err(json!({"traffic-split": {"rules": [{"weighted_upstreams": [{"weight": -1}]}]}})),
        "failed to check the configuration of stream plugin [traffic-split]: property \"rules\" validation failed: failed to validate item 1: property \"weighted_upstreams\" validation failed: failed to validate item 1: property \"weight\" validation failed: expected -1 to be at least 0"
    );
    stream_ok(json!({"traffic-split": {"rules": [{
        "match": [{"vars": [["remote_addr", "==", "127.0.0.1"]]}],
        "weighted_upstreams": [{"upstream_id": "1", "weight": 1}, {"weight": 1}]
    }]}}));
}

#[test]
fn services_use_the_http_message_form() {
    let enabled = default_stream_plugins();
    assert_eq!(
        check_plugins(&json!({"ip-restriction": {}}), &enabled, false, CheckStyle::Http).expect_err("should be rejected"),
        "failed to check the configuration of plugin ip-restriction err: value should match only one schema, but matches none"
    );
}
