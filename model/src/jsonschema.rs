//! A JSON-schema validator over `serde_json::Value` whose behaviour and messages are those of
//! api7/jsonschema (the library APISIX uses), so every `invalid configuration: ...` text is
//! APISIX's.
//!
//! What it mirrors from the Lua library:
//! - keyword order: secret references, `type`, the object block (each property in the order of
//!   `properties` with its `dependencies` and `required`, then the remaining `required`, the
//!   remaining `dependencies`, `patternProperties`/`additionalProperties`,
//!   `minProperties`/`maxProperties`), the array block, the string block, the number block,
//!   `enum`, `allOf`, `anyOf`, `oneOf`, `if`/`then`/`else`, `not`, `propertyNames`, `format`,
//!   `const`, `contains`; the first failure is returned;
//! - Lua's view of JSON: arrays and objects are both `table`, an empty `{}`/`[]` is both an
//!   object and an array, null is `userdata`, integers are numbers without a fraction;
//! - strings that are secret references (`$secret://...`, `$env://...`) skip string schemas.
//!
//! Defaults are not injected: the callers that depend on a default (`hash_on`) apply it.

mod keywords;
mod lua;
mod pattern;

use keywords::{
    check_array, check_contains, check_count, check_number, check_string, COUNTED_PROPERTIES,
};

pub use lua::{cjson_encode, deep_eq, lua_number, lua_quote, lua_tostring, lua_type};
pub use pattern::matches as pattern_matches;

use serde_json::{Map, Value};

/// Validates `value` against `schema`; the error is api7/jsonschema's message.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value)
}

/// What jsonschema's `tablekind` says of a table: 0 a non-empty object, 1 empty, 2 an array.
fn table_kind(v: &Value) -> Option<u8> {
    match v {
        Value::Object(m) if m.is_empty() => Some(1),
        Value::Object(_) => Some(0),
        Value::Array(a) if a.is_empty() => Some(1),
        Value::Array(_) => Some(2),
        _ => None,
    }
}

fn is_secret_ref(v: &Value, schema: &Map<String, Value>) -> bool {
    let Value::String(s) = v else { return false };
    if !s.starts_with('$') {
        return false;
    }
    if let Some(t) = schema.get("type") {
        if t.as_str() != Some("string") {
            return false;
        }
    }
    s.starts_with("$secret://") || s.to_uppercase().starts_with("$ENV://")
}

fn type_matches(t: &str, v: &Value) -> bool {
    let kind = table_kind(v);
    match t {
        "object" => kind.is_some_and(|k| k <= 1),
        "array" => kind.is_some_and(|k| k >= 1),
        "table" => kind.is_some(),
        "integer" => v.as_f64().is_some_and(|n| n.fract() == 0.0),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// A boolean `items` or `propertyNames` ends the check as jsonschema does: `true` passes
/// anything, `false` only an empty table. `None` when the keyword is absent or a schema.
fn boolean_keyword(keyword: Option<&Value>, v: &Value) -> Option<Result<(), String>> {
    match keyword {
        Some(Value::Bool(true)) => Some(Ok(())),
        Some(Value::Bool(false)) if table_kind(v) == Some(1) => Some(Ok(())),
        Some(Value::Bool(false)) => Some(Err("expect false always".to_owned())),
        _ => None,
    }
}

fn check(schema: &Value, v: &Value) -> Result<(), String> {
    let s = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err("expect false always".to_owned()),
        Value::Object(s) => s,
        _ => return Ok(()),
    };
    if is_secret_ref(v, s) {
        return Ok(());
    }
    check_type(s, v)?;
    if OBJECT_KEYWORDS.iter().any(|k| s.contains_key(*k)) {
        check_object(s, v)?;
    }
    if ["items", "minItems", "maxItems", "uniqueItems"]
        .iter()
        .any(|k| s.contains_key(*k))
    {
        if let Some(verdict) = boolean_keyword(s.get("items"), v) {
            return verdict;
        }
        check_array(s, v)?;
    }
    if let Value::String(text) = v {
        check_string(s, text)?;
    }
    if let Some(n) = v.as_f64() {
        check_number(s, n)?;
    }
    check_combinators(s, v)?;
    if let Some(verdict) = boolean_keyword(s.get("propertyNames"), v) {
        return verdict;
    }
    if let (Some(Value::String(format)), Value::String(text)) = (s.get("format"), v) {
        if pattern::format_ok(format, text) == Some(false) {
            return Err(format!("expect valid {format} format but got: {text}"));
        }
    }
    if let Some(c) = s.get("const") {
        if !deep_eq(v, c) {
            return Err("failed to check const value".to_owned());
        }
    }
    if let Some(contains) = s.get("contains") {
        check_contains(contains, v)?;
    }
    Ok(())
}

const OBJECT_KEYWORDS: [&str; 7] = [
    "properties",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "required",
];

fn check_type(s: &Map<String, Value>, v: &Value) -> Result<(), String> {
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            Err(format!("wrong type: expected {t}, got {}", lua_type(v)))
        }
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            if names.iter().any(|t| type_matches(t, v)) {
                Ok(())
            } else {
                Err(format!(
                    "wrong type: expected one of {}, got {}",
                    names.join(", "),
                    lua_type(v)
                ))
            }
        }
        _ => Ok(()),
    }
}

fn check_object(s: &Map<String, Value>, v: &Value) -> Result<(), String> {
    let empty = Map::new();
    let obj = match v {
        Value::Object(m) => Some(m),
        Value::Array(a) if a.is_empty() => Some(&empty),
        _ => None,
    };
    if let Some(obj) = obj {
        check_object_fields(s, obj, v)?;
    }
    if let Some(Value::Array(required)) = s.get("required") {
        if required.is_empty() && table_kind(v) != Some(1) {
            return Err("the input data should be an empty table".to_owned());
        }
    }
    Ok(())
}

fn check_object_fields(
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    whole: &Value,
) -> Result<(), String> {
    let properties = s.get("properties").and_then(Value::as_object);
    let dependencies = s.get("dependencies").and_then(Value::as_object);
    let required: Vec<&str> = match s.get("required") {
        Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(props) = properties {
        for (prop, sub) in props {
            match obj.get(prop) {
                Some(pv) => {
                    check(sub, pv)
                        .map_err(|e| format!("property \"{prop}\" validation failed: {e}"))?;
                    if let Some(d) = dependencies.and_then(|d| d.get(prop)) {
                        check_dependency(prop, d, obj, whole)?;
                    }
                }
                None if required.contains(&prop.as_str()) => {
                    return Err(format!("property \"{prop}\" is required"));
                }
                None => {}
            }
        }
    }
    let in_properties = |k: &str| properties.is_some_and(|p| p.contains_key(k));
    for prop in &required {
        if !in_properties(prop) && !obj.contains_key(*prop) {
            return Err(format!("property \"{prop}\" is required"));
        }
    }
    if let Some(deps) = dependencies {
        for (prop, d) in deps {
            if !in_properties(prop) && obj.contains_key(prop) {
                check_dependency(prop, d, obj, whole)?;
            }
        }
    }
    check_additional(s, obj, &in_properties)?;
    check_count(s, COUNTED_PROPERTIES, obj.len())
}

fn check_dependency(
    prop: &str,
    dep: &Value,
    obj: &Map<String, Value>,
    whole: &Value,
) -> Result<(), String> {
    match dep {
        Value::Array(list) if !list.is_empty() => {
            for d in list.iter().filter_map(Value::as_str) {
                if !obj.contains_key(d) {
                    return Err(format!(
                        "property \"{d}\" is required when \"{prop}\" is set"
                    ));
                }
            }
            Ok(())
        }
        schema => check(schema, whole)
            .map_err(|e| format!("failed to validate dependent schema for \"{prop}\": {e}")),
    }
}

fn check_additional(
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    in_properties: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let additional = s.get("additionalProperties");
    let restricts = matches!(additional, Some(a) if a != &Value::Bool(true));
    let patterns = s.get("patternProperties").and_then(Value::as_object);
    if patterns.is_none() && !restricts {
        return Ok(());
    }
    for (key, value) in obj {
        let mut matched = false;
        for (patt, ps) in patterns.into_iter().flatten() {
            if pattern::matches(patt, key) {
                check(ps, value)
                    .map_err(|e| format!("failed to validate {key} (matching \"{patt}\"): {e}"))?;
                matched = true;
            }
        }
        if restricts && !in_properties(key) && !matched {
            match additional {
                Some(schema @ Value::Object(_)) => check(schema, value)
                    .map_err(|e| format!("failed to validate additional property {key}: {e}"))?,
                _ => return Err(format!("additional properties forbidden, found {key}")),
            }
        }
    }
    Ok(())
}

fn check_combinators(s: &Map<String, Value>, v: &Value) -> Result<(), String> {
    if let Some(Value::Array(values)) = s.get("enum") {
        if !values.iter().any(|e| deep_eq(v, e)) {
            return Err("matches none of the enum values".to_owned());
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for (i, sub) in all.iter().enumerate() {
            check(sub, v).map_err(|e| format!("allOf {} failed: {e}", i + 1))?;
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf") {
        if !any.iter().any(|sub| check(sub, v).is_ok()) {
            let requires: Vec<String> = any
                .iter()
                .filter_map(|sub| sub.get("required"))
                .map(cjson_encode)
                .collect();
            return Err(if requires.is_empty() {
                "object matches none of the required".to_owned()
            } else {
                format!(
                    "object matches none of the required: {}",
                    requires.join(" or ")
                )
            });
        }
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let mut matched = None;
        for (i, sub) in one.iter().enumerate() {
            if check(sub, v).is_ok() {
                if let Some(first) = matched {
                    return Err(format!(
                        "value should match only one schema, but matches both schemas {first} and {}",
                        i + 1
                    ));
                }
                matched = Some(i + 1);
            }
        }
        if matched.is_none() {
            return Err("value should match only one schema, but matches none".to_owned());
        }
    }
    if let Some(cond) = s.get("if") {
        let matched = check(cond, v).is_ok();
        if let Some(then) = s.get("then") {
            if matched && check(then, v).is_err() {
                return Err("then clause did not match".to_owned());
            }
        }
        if let Some(otherwise) = s.get("else") {
            if !matched && check(otherwise, v).is_err() {
                return Err("else clause did not match".to_owned());
            }
        }
    }
    if let Some(not) = s.get("not") {
        if check(not, v).is_ok() {
            return Err("value wasn't supposed to match schema".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
