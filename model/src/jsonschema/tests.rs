//! Messages of the validator, checked against api7/jsonschema's texts.

use serde_json::json;

use super::validate;

fn err(schema: serde_json::Value, value: serde_json::Value) -> String {
    validate(&schema, &value).expect_err("value should be rejected")
}

#[test]
fn wrong_type_names_lua_types() {
    assert_eq!(
        err(json!({"type": "string"}), json!(1)),
        "wrong type: expected string, got number"
    );
    assert_eq!(
        err(json!({"type": "object"}), json!([1])),
        "wrong type: expected object, got table"
    );
    assert_eq!(
        err(json!({"type": "integer"}), json!(1.5)),
        "wrong type: expected integer, got number"
    );
    assert_eq!(
        err(json!({"type": "string"}), json!(null)),
        "wrong type: expected string, got userdata"
    );
    assert_eq!(
        err(json!({"type": ["string", "integer"]}), json!(true)),
        "wrong type: expected one of string, integer, got boolean"
    );
}

#[test]
fn empty_tables_are_both_objects_and_arrays() {
    assert!(validate(&json!({"type": "object"}), &json!([])).is_ok());
    assert!(validate(&json!({"type": "array"}), &json!({})).is_ok());
    assert_eq!(
        err(json!({"type": "array", "minItems": 1}), json!({})),
        "expect array to have at least 1 items"
    );
}

#[test]
fn range_messages() {
    assert_eq!(
        err(json!({"minimum": 1}), json!(0)),
        "expected 0 to be at least 1"
    );
    assert_eq!(
        err(json!({"exclusiveMinimum": 0}), json!(0)),
        "expected 0 to be greater than 0"
    );
    assert_eq!(
        err(json!({"minimum": 0, "exclusiveMinimum": true}), json!(0)),
        "expected 0 to be greater than 0"
    );
    assert_eq!(
        err(json!({"maximum": 254}), json!(255)),
        "expected 255 to be at most 254"
    );
    assert_eq!(
        err(json!({"exclusiveMaximum": 5}), json!(5.5)),
        "expected 5.5 to be smaller than 5"
    );
    assert_eq!(
        err(json!({"multipleOf": 2}), json!(3)),
        "expected 3 to be a multiple of 2"
    );
}

#[test]
fn string_messages() {
    assert_eq!(
        err(json!({"pattern": r"^\S+$"}), json!("a b")),
        r#"failed to match pattern "^\\S+$" with "a b""#
    );
    assert_eq!(
        err(json!({"minLength": 1}), json!("")),
        "string too short, expected at least 1, got 0"
    );
    assert_eq!(
        err(json!({"maxLength": 2}), json!("héé")),
        "string too long, expected at most 2, got 3"
    );
}

#[test]
fn secret_references_skip_string_checks() {
    assert!(validate(
        &json!({"type": "string", "minLength": 128}),
        &json!("$env://CERT")
    )
    .is_ok());
    assert!(validate(
        &json!({"type": "string", "minLength": 128}),
        &json!("$secret://vault/1/c")
    )
    .is_ok());
}

#[test]
fn object_messages() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["b"],
        "additionalProperties": false
    });
    assert_eq!(
        err(schema.clone(), json!({"a": "x"})),
        r#"property "b" is required"#
    );
    assert_eq!(
        err(schema.clone(), json!({"a": 1, "b": 1})),
        r#"property "a" validation failed: wrong type: expected string, got number"#
    );
    assert_eq!(
        err(schema, json!({"b": 1, "uri": 1})),
        "additional properties forbidden, found uri"
    );
    assert_eq!(
        err(json!({"minProperties": 2}), json!({"a": 1})),
        "expect object to have at least 2 properties"
    );
}

#[test]
fn pattern_properties_message_names_key_and_pattern() {
    let schema = json!({"type": "object", "patternProperties": {".*": {"type": "string"}}});
    assert_eq!(
        err(schema, json!({"env": {}})),
        r#"failed to validate env (matching ".*"): wrong type: expected string, got table"#
    );
}

#[test]
fn dependencies_messages() {
    assert_eq!(
        err(
            json!({"properties": {"name": {}}, "dependencies": {"name": ["conf"]}}),
            json!({"name": "x"})
        ),
        r#"property "conf" is required when "name" is set"#
    );
    assert_eq!(
        err(
            json!({"properties": {"a": {}}, "dependencies": {"a": {"not": {"required": ["b"]}}}}),
            json!({"a": 1, "b": 2})
        ),
        r#"failed to validate dependent schema for "a": value wasn't supposed to match schema"#
    );
}

#[test]
fn combinator_messages() {
    assert_eq!(
        err(
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            json!(1.5)
        ),
        "object matches none of the required"
    );
    assert_eq!(
        err(
            json!({"anyOf": [{"required": ["active"]}, {"required": ["active", "passive"]}]}),
            json!({"passive": {}})
        ),
        r#"object matches none of the required: ["active"] or ["active","passive"]"#
    );
    assert_eq!(
        err(
            json!({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}),
            json!({})
        ),
        "value should match only one schema, but matches none"
    );
    assert_eq!(
        err(
            json!({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}),
            json!({"a": 1, "b": 1})
        ),
        "value should match only one schema, but matches both schemas 1 and 2"
    );
    assert_eq!(
        err(json!({"allOf": [{"type": "string"}]}), json!(1)),
        "allOf 1 failed: wrong type: expected string, got number"
    );
    assert_eq!(
        err(json!({"enum": ["a"]}), json!("b")),
        "matches none of the enum values"
    );
    assert_eq!(
        err(json!({"const": 1}), json!(2)),
        "failed to check const value"
    );
    assert_eq!(
        err(
            json!({"if": {"properties": {"t": {"enum": ["s"]}}}, "then": {"required": ["x"]}}),
            json!({})
        ),
        "then clause did not match"
    );
}

#[test]
fn array_messages() {
    assert_eq!(
        err(json!({"items": {"type": "string"}}), json!(["a", 1])),
        "failed to validate item 2: wrong type: expected string, got number"
    );
    assert_eq!(
        err(json!({"uniqueItems": true}), json!([1, 2, 1])),
        "expected unique items but items 1 and 3 are equal"
    );
    assert_eq!(
        err(json!({"maxItems": 1}), json!([1, 2])),
        "expect array to have at most 1 items"
    );
}

#[test]
fn ipv4_format_is_strict() {
    assert!(validate(&json!({"format": "ipv4"}), &json!("10.0.0.1")).is_ok());
    assert_eq!(
        err(json!({"format": "ipv4"}), json!("10.0.0.300")),
        "expect valid ipv4 format but got: 10.0.0.300"
    );
}
