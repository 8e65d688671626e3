//! The write check of upstreams, services, SSLs and plugin metadata, and the PATCH helpers.

use base64::Engine;
use serde_json::{json, Value};

use super::tests::ctx;
use super::*;

fn err(kind: ResourceKind, body: Value) -> String {
    check_write(kind, WriteMethod::Put, Some("1"), Some(&body), &ctx())
        .expect_err("write should be rejected")
        .message
}

fn ok(kind: ResourceKind, body: Value) {
    check_write(kind, WriteMethod::Put, Some("1"), Some(&body), &ctx())
        .expect("write should be accepted");
}

/// A PEM block that the loose reader accepts: a DER sequence of `len` bytes in all.
fn pem(label: &str, len: usize) -> String {
    let content = len - 4;
    let mut der = vec![0x30, 0x82, (content >> 8) as u8, (content & 0xff) as u8];
    der.resize(len, 0x41);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

fn cert() -> String {
    pem("CERTIFICATE", 300)
}

fn key() -> String {
    pem("PRIVATE KEY", 200)
}

#[test]
fn upstream_chash_without_key_is_missing_key() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"type": "chash", "nodes": {"127.0.0.1:80": 1}})
        ),
        "missing key"
    );
    ok(
        ResourceKind::Upstreams,
        json!({"type": "chash", "hash_on": "consumer", "nodes": {}}),
    );
}

#[test]
fn upstream_chash_vars_key_must_be_a_known_var() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"type": "chash", "key": "not_support", "nodes": {}})
        ),
        r#"invalid configuration: failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "not_support""#
    );
    ok(
        ResourceKind::Upstreams,
        json!({"type": "chash", "key": "mqtt_client_id", "nodes": {}}),
    );
}

#[test]
fn upstream_chash_header_key_pattern() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"type": "chash", "hash_on": "header", "key": "$#^@", "nodes": {}})
        ),
        r#"invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "$#^@""#
    );
}

#[test]
fn upstream_hash_node_port_out_of_range() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"nodes": {"127.0.0.1:65536": 1}})
        ),
        "invalid port 65536"
    );
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"nodes": {"[::1]:0": 1}})),
        "invalid port 0"
    );
}

#[test]
fn upstream_bare_ipv6_host_must_be_bracketed_before_the_schema() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"nodes": [{"host": "::1", "port": 80, "weight": 1}], "retries": -1})
        ),
        "invalid configuration: IPv6 address must be enclosed with '[' and ']'"
    );
    ok(
        ResourceKind::Upstreams,
        json!({"nodes": [{"host": "[::1]", "port": 80, "weight": 1}]}),
    );
}

#[test]
fn upstream_schema_messages() {
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"nodes": {}, "retries": -1})),
        "invalid configuration: property \"retries\" validation failed: expected -1 to be at least 0"
    );
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"nodes": {}, "hash_on": "url"})),
        "invalid configuration: property \"hash_on\" validation failed: matches none of the enum values"
    );
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"nodes": {}, "name": "a".repeat(257)})),
        "invalid configuration: property \"name\" validation failed: string too long, expected at most 256, got 257"
    );
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"type": "roundrobin"})),
        "invalid configuration: value should match only one schema, but matches none"
    );
}

#[test]
fn upstream_type_is_not_an_enum() {
    ok(
        ResourceKind::Upstreams,
        json!({"type": "unknown", "nodes": {}}),
    );
}

#[test]
fn upstream_client_cert_id_needs_a_client_ssl() {
    let mut c = ctx();
    assert_eq!(
        check_write(
            ResourceKind::Upstreams,
            WriteMethod::Put,
            Some("1"),
            Some(&json!({"nodes": {}, "tls": {"client_cert_id": 9999999}})),
            &c
        )
        .expect_err("should be rejected")
        .message,
        "failed to fetch ssl info by ssl id [9999999], response code: 404"
    );
    c.refs.insert(
        (ResourceKind::Ssls, "1".to_owned()),
        json!({"type": "server"}),
    );
    let body = json!({"nodes": {}, "tls": {"client_cert_id": 1}});
    assert_eq!(
        check_write(
            ResourceKind::Upstreams,
            WriteMethod::Put,
            Some("1"),
            Some(&body),
            &c
        )
        .expect_err("should be rejected")
        .message,
        "failed to fetch ssl info by ssl id [1], wrong ssl type"
    );
    c.refs.insert(
        (ResourceKind::Ssls, "1".to_owned()),
        json!({"type": "client"}),
    );
    assert!(check_write(
        ResourceKind::Upstreams,
        WriteMethod::Put,
        Some("1"),
        Some(&body),
        &c
    )
    .is_ok());
}

#[test]
fn upstream_client_cert_id_excludes_inline_cert() {
    let body = json!({"nodes": {}, "tls": {"client_cert_id": 1, "client_cert": cert(), "client_key": key()}});
    assert_eq!(
        err(ResourceKind::Upstreams, body),
        "invalid configuration: property \"tls\" validation failed: failed to validate dependent schema for \"client_cert_id\": value wasn't supposed to match schema"
    );
}

#[test]
fn upstream_client_cert_requires_key_and_must_parse() {
    assert_eq!(
        err(ResourceKind::Upstreams, json!({"nodes": {}, "tls": {"client_cert": cert()}})),
        "invalid configuration: property \"tls\" validation failed: failed to validate dependent schema for \"client_cert\": property \"client_key\" is required"
    );
    let bad_cert = format!("{}{}", "x".repeat(130), "");
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"nodes": {}, "tls": {"client_cert": bad_cert, "client_key": key()}})
        ),
        "failed to parse cert: PEM_read_bio_X509_AUX() failed"
    );
    ok(
        ResourceKind::Upstreams,
        json!({"nodes": {}, "scheme": "tls", "tls": {"client_cert": cert(), "client_key": key()}}),
    );
}

#[test]
fn upstream_rewrite_needs_upstream_host() {
    assert_eq!(
        err(
            ResourceKind::Upstreams,
            json!({"nodes": {}, "pass_host": "rewrite"})
        ),
        "`upstream_host` can't be empty when `pass_host` is `rewrite`"
    );
}

#[test]
fn service_inline_upstream_gets_the_upstream_checks() {
    assert_eq!(
        err(
            ResourceKind::Services,
            json!({"upstream": {"type": "chash", "nodes": {}}})
        ),
        "missing key"
    );
    assert_eq!(
        err(ResourceKind::Services, json!({"upstream_id": "nope"})),
        "failed to fetch upstream info by upstream id [nope], response code: 404"
    );
}

#[test]
fn service_plugins_use_the_http_texts() {
    assert_eq!(
        err(
            ResourceKind::Services,
            json!({"plugins": {"limit-conn": {}}})
        ),
        "failed to check the configuration of plugin limit-conn err: property \"conn\" is required"
    );
    assert_eq!(
        err(ResourceKind::Services, json!({"plugins": {"zzz": {}}})),
        "unknown plugin [zzz]"
    );
    ok(
        ResourceKind::Services,
        json!({"plugins": {"limit-conn": {"conn": 1, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr"}}}),
    );
}

#[test]
fn ssl_server_needs_sni() {
    assert_eq!(
        err(ResourceKind::Ssls, json!({"cert": cert(), "key": key()})),
        "invalid configuration: then clause did not match"
    );
    ok(
        ResourceKind::Ssls,
        json!({"cert": cert(), "key": key(), "snis": ["a.com"]}),
    );
    ok(
        ResourceKind::Ssls,
        json!({"type": "client", "cert": cert(), "key": key()}),
    );
}

#[test]
fn ssl_cert_and_key_must_parse() {
    let garbage = "-".repeat(130);
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": garbage, "key": key(), "sni": "a.com"})
        ),
        "failed to parse cert: PEM_read_bio_X509_AUX() failed"
    );
    let bad_key = format!("---{}", "k".repeat(70));
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": cert(), "key": bad_key, "sni": "a.com"})
        ),
        "failed to parse key: PEM_read_bio_PrivateKey() failed"
    );
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": cert(), "key": "k".repeat(70), "sni": "a.com"})
        ),
        "failed to decrypt previous encrypted key"
    );
}

#[test]
fn stored_keys_may_be_encrypted_at_rest() {
    let encrypted = "q".repeat(96);
    let ssl = json!({"id": "1", "cert": cert(), "key": encrypted, "snis": ["a.com"]});
    check_stored(ResourceKind::Ssls, "1", &ssl, &ctx()).expect("encrypted ssl key loads");
    let upstream = json!({
        "nodes": {"127.0.0.1:80": 1},
        "tls": {"client_cert": cert(), "client_key": encrypted},
    });
    check_stored(ResourceKind::Upstreams, "1", &upstream, &ctx())
        .expect("encrypted client key loads");
    // A stored key that is PEM must still parse.
    let bad =
        json!({"id": "1", "cert": cert(), "key": format!("---{encrypted}"), "snis": ["a.com"]});
    assert!(check_stored(ResourceKind::Ssls, "1", &bad, &ctx()).is_err());
}

#[test]
fn ssl_truncated_cert_is_refused() {
    let truncated = "-----BEGIN CERTIFICATE-----
MIIEojCCAwqgAwIBAgIJAK253pMhgCkxMA0GCSqGSIb3DQEBCwUAMFYxCzAJBgNV
BAYTAkNOMRIwEAYDVQQIDAlHdWFuZ0RvbmcxDzANBgNVBAcMBlpodUhhaTEPMA0G
U/OOcSRr39Kuis/JJ+DkgHYa/PWHZhnJQBxcqXXk1bJGw9BNbhM=
-----END CERTIFICATE-----
";
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": truncated, "key": key(), "sni": "test.com"})
        ),
        "failed to parse cert: PEM_read_bio_X509_AUX() failed"
    );
}

#[test]
fn ssl_secret_references_are_not_parsed() {
    ok(
        ResourceKind::Ssls,
        json!({"cert": "$env://CERT", "key": "$secret://vault/1/key", "sni": "a.com"}),
    );
}

#[test]
fn ssl_certs_and_keys_pairs() {
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": cert(), "key": key(), "sni": "a.com", "certs": [cert()]})
        ),
        "mismatched number of certs and keys"
    );
    let bad = "-".repeat(130);
    assert_eq!(
        err(
            ResourceKind::Ssls,
            json!({"cert": cert(), "key": key(), "sni": "a.com", "certs": [bad], "keys": [key()]})
        ),
        "failed to handle cert-key pair[1]: failed to parse cert: PEM_read_bio_X509_AUX() failed"
    );
    assert_eq!(
        err(ResourceKind::Ssls, json!({"cert": cert(), "key": key(), "sni": "a.com", "certs": ["short"], "keys": [key()]})),
        "invalid configuration: property \"certs\" validation failed: failed to validate item 1: string too short, expected at least 128, got 5"
    );
}

#[test]
fn ssl_protocols_are_an_enum() {
    assert_eq!(
        err(ResourceKind::Ssls, json!({"cert": cert(), "key": key(), "sni": "a.com", "ssl_protocols": ["SSLv3"]})),
        "invalid configuration: property \"ssl_protocols\" validation failed: failed to validate item 1: matches none of the enum values"
    );
}

#[test]
fn ssl_client_ca_must_parse() {
    let body =
        json!({"cert": cert(), "key": key(), "sni": "a.com", "client": {"ca": "-".repeat(130)}});
    assert_eq!(
        err(ResourceKind::Ssls, body),
        "failed to validate client_cert: failed to parse cert: PEM_read_bio_X509_AUX() failed"
    );
}

#[test]
fn plugin_metadata_rules() {
    let c = ctx();
    let put = |name: Option<&str>, body: Value| {
        check_write(
            ResourceKind::PluginMetadata,
            WriteMethod::Put,
            name,
            Some(&body),
            &c,
        )
    };
    assert_eq!(
        put(None, json!({}))
            .expect_err("should be rejected")
            .message,
        "missing plugin name"
    );
    assert_eq!(
        put(Some("nope"), json!({}))
            .expect_err("should be rejected")
            .message,
        "invalid plugin name"
    );
    assert_eq!(
        put(Some("syslog"), json!({"log_format": "x"})).expect_err("should be rejected").message,
        "invalid configuration: property \"log_format\" validation failed: wrong type: expected object, got string"
    );
    assert_eq!(
        put(Some("syslog"), json!({"create_time": 1}))
            .expect_err("should be rejected")
            .message,
        "the property is forbidden:  create_time"
    );
    assert_eq!(
        put(Some("syslog"), json!({"log_format": {"host": "$host"}})),
        Ok(Some("syslog".to_owned()))
    );
    assert_eq!(
        put(Some("limit-conn"), json!({"anything": 1})),
        Ok(Some("limit-conn".to_owned()))
    );
}

#[test]
fn patch_allows_time_fields_and_checks_the_merged_object() {
    let mut stored =
        json!({"id": "1", "nodes": {"127.0.0.1:80": 1}, "type": "roundrobin", "create_time": 1});
    merge_patch(&mut stored, &json!({"type": "chash", "key": "remote_addr"}));
    let c = ctx();
    assert!(check_write(
        ResourceKind::Upstreams,
        WriteMethod::Patch,
        Some("1"),
        Some(&stored),
        &c
    )
    .is_ok());
    merge_patch(&mut stored, &json!({"key": null}));
    assert_eq!(
        check_write(
            ResourceKind::Upstreams,
            WriteMethod::Patch,
            Some("1"),
            Some(&stored),
            &c
        )
        .expect_err("should be rejected")
        .message,
        "missing key"
    );
}

#[test]
fn merge_replaces_arrays_and_empty_objects_and_merges_objects() {
    let mut v = json!({"nodes": {"a:1": 1, "b:1": 1}, "labels": {"x": "1"}, "list": [1, 2]});
    merge_patch(
        &mut v,
        &json!({"nodes": {"a:1": null, "c:1": 2}, "labels": {}, "list": [3]}),
    );
    assert_eq!(
        v,
        json!({"nodes": {"b:1": 1, "c:1": 2}, "labels": {}, "list": [3]})
    );
}

#[test]
fn sub_path_replaces_the_subtree() {
    let mut v = json!({"nodes": {"a:1": 1}, "retries": 1});
    set_sub_path(&mut v, "nodes", json!({"b:1": 2})).expect("valid path");
    assert_eq!(v, json!({"nodes": {"b:1": 2}, "retries": 1}));
    set_sub_path(&mut v, "timeout/connect", json!(3)).expect("valid path");
    assert_eq!(v["timeout"], json!({"connect": 3}));
    assert_eq!(
        set_sub_path(&mut v, "retries/x", json!(1))
            .expect_err("should be rejected")
            .message,
        "invalid sub-path: /retries"
    );
}

#[test]
fn stored_upstream_brackets_ipv6_instead_of_rejecting() {
    let c = ctx();
    let body = json!({"nodes": [{"host": "::1", "port": 80, "weight": 1}]});
    assert!(check_stored(ResourceKind::Upstreams, "1", &body, &c).is_ok());
    assert_eq!(
        check_stored(
            ResourceKind::Upstreams,
            "1",
            &json!({"type": "chash", "nodes": {}}),
            &c
        )
        .expect_err("should be rejected")
        .message,
        "missing key"
    );
}

#[test]
fn real_openssl_pems_are_accepted() {
    let cert = include_str!("testdata/test.crt");
    let ec_key = include_str!("testdata/test.key");
    let rsa_key = include_str!("testdata/rsa.key");
    ok(
        ResourceKind::Ssls,
        json!({"cert": cert, "key": ec_key, "sni": "test.com"}),
    );
    ok(
        ResourceKind::Ssls,
        json!({"cert": cert, "key": ec_key, "snis": ["test.com"], "certs": [cert], "keys": [rsa_key]}),
    );
}
