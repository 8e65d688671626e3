//! One IP/CIDR parser for validation and the data plane (issue #19, defect 5d): what the Admin
//! API accepts, the data plane can match, so no stored entry is silently dropped (which would
//! fail open in an `ip-restriction` whitelist or a `vars` rule).

use model::ip::{parse_cidr_or_ip, validate_cidr_or_ip, IpRule};
use model::plugins::check_expr;
use model::{CheckContext, ResourceKind, WriteMethod};
use serde_json::json;

/// Forms the old Lua-like check let through but no matcher can use.
const UNMATCHABLE: &[&str] = &["[::1]", "[2001:db8::1]/64", "10.0.0.0/8.0", "10.0.0.0/0x8"];

#[test]
fn validation_refuses_what_the_data_plane_cannot_parse() {
    for text in UNMATCHABLE {
        assert!(!validate_cidr_or_ip(text), "{text} must be refused");
        assert_eq!(parse_cidr_or_ip(text), None, "{text}");
    }
    for text in ["::1", "2001:db8::1/64", "10.0.0.0/8", "10.1.2.3"] {
        let rule = parse_cidr_or_ip(text).expect("valid rule");
        assert!(validate_cidr_or_ip(text), "{text}");
        assert!(matches!(rule, IpRule::Addr(_) | IpRule::Net(_)));
    }
}

#[test]
fn an_ipmatch_operand_the_data_plane_cannot_parse_is_refused_at_write_time() {
    for text in UNMATCHABLE {
        let rule = json!([["remote_addr", "ipmatch", text]]);
        let err = check_expr(Some(&rule)).expect_err("refused");
        assert_eq!(err, format!("invalid ip address: {text}"));
    }
    assert_eq!(
        check_expr(Some(&json!([[
            "remote_addr",
            "ipmatch",
            ["10.0.0.0/8", "::1"]
        ]]))),
        Ok(())
    );
}

#[test]
fn a_traffic_split_route_with_an_unparsable_ipmatch_is_refused_by_the_admin_check() {
    let ctx = CheckContext::new(vec!["traffic-split".to_owned()], vec!["redis".to_owned()]);
    let route = |operand: &str| {
        json!({
            "upstream": {"nodes": {"127.0.0.1:1980": 1}, "type": "roundrobin"},
            "plugins": {"traffic-split": {"rules": [{
                "match": [{"vars": [["remote_addr", "ipmatch", operand]]}],
                "weighted_upstreams": [{"weight": 1}]
            }]}}
        })
    };
    let write = |body: &serde_json::Value| {
        model::validate::check_write(
            ResourceKind::StreamRoutes,
            WriteMethod::Put,
            Some("1"),
            Some(body),
            &ctx,
        )
    };
    assert!(write(&route("10.0.0.0/8")).is_ok());
    let err = write(&route("[::1]")).expect_err("refused");
    assert!(
        err.message.contains("invalid ip address: [::1]"),
        "{}",
        err.message
    );
}
