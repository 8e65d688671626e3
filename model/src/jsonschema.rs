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

use crate::json_path::JsonPath;

/// A failed check: api7/jsonschema's message and where in the value it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The message, exactly as api7/jsonschema writes it (nested failures included).
    pub message: String,
    /// The innermost value at fault.
    pub path: JsonPath,
}

impl From<String> for SchemaError {
    fn from(message: String) -> Self {
        SchemaError {
            message,
            path: JsonPath::root(),
        }
    }
}

impl SchemaError {
    /// The failure of a member `key`, seen from its object: `wrap` gives the outer message.
    fn under_key(self, key: &str, wrap: impl FnOnce(String) -> String) -> Self {
        SchemaError {
            message: wrap(self.message),
            path: self.path.under_key(key),
        }
    }

    /// The failure of element `index` (0-based), seen from its array.
    pub(crate) fn under_index(self, index: usize, wrap: impl FnOnce(String) -> String) -> Self {
        SchemaError {
            message: wrap(self.message),
            path: self.path.under_index(index),
        }
    }

    /// The same place, with the outer message `wrap` gives.
    pub(crate) fn wrapped(self, wrap: impl FnOnce(String) -> String) -> Self {
        SchemaError {
            message: wrap(self.message),
            path: self.path,
        }
    }
}

/// The result of one check.
pub(crate) type Checked = Result<(), SchemaError>;

/// Validates `value` against `schema`; the error is api7/jsonschema's message.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value).map_err(|e| e.message)
}

/// [`validate`], keeping the path of the value at fault.
pub fn validate_at(schema: &Value, value: &Value) -> Result<(), SchemaError> {
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
fn boolean_keyword(keyword: Option<&Value>, v: &Value) -> Option<Checked> {
    match keyword {
        Some(Value::Bool(true)) => Some(Ok(())),
        Some(Value::Bool(false)) if table_kind(v) == Some(1) => Some(Ok(())),
        Some(Value::Bool(false)) => Some(Err("expect false always".to_owned().into())),
        _ => None,
    }
}

fn check(schema: &Value, v: &Value) -> Checked {
    let s = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err("expect false always".to_owned().into()),
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
            return Err(format!("expect valid {format} format but got: {text}").into());
        }
    }
    if let Some(c) = s.get("const") {
        if !deep_eq(v, c) {
            return Err("failed to check const value".to_owned().into());
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

fn check_object(s: &Map<String, Value>, v: &Value) -> Checked {
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
            return Err("the input data should be an empty table".to_owned().into());
        }
    }
    Ok(())
}

fn check_object_fields(s: &Map<String, Value>, obj: &Map<String, Value>, whole: &Value) -> Checked {
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
                    check(sub, pv).map_err(|e| {
                        e.under_key(prop, |m| {
                            format!("property \"{prop}\" validation failed: {m}")
                        })
                    })?;
                    if let Some(d) = dependencies.and_then(|d| d.get(prop)) {
                        check_dependency(prop, d, obj, whole)?;
                    }
                }
                None if required.contains(&prop.as_str()) => {
                    return Err(format!("property \"{prop}\" is required").into());
                }
                None => {}
            }
        }
    }
    let in_properties = |k: &str| properties.is_some_and(|p| p.contains_key(k));
    for prop in &required {
        if !in_properties(prop) && !obj.contains_key(*prop) {
            return Err(format!("property \"{prop}\" is required").into());
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
    Ok(check_count(s, COUNTED_PROPERTIES, obj.len())?)
}

fn check_dependency(prop: &str, dep: &Value, obj: &Map<String, Value>, whole: &Value) -> Checked {
    match dep {
        Value::Array(list) if !list.is_empty() => {
            for d in list.iter().filter_map(Value::as_str) {
                if !obj.contains_key(d) {
                    return Err(
                        format!("property \"{d}\" is required when \"{prop}\" is set").into(),
                    );
                }
            }
            Ok(())
        }
        schema => check(schema, whole).map_err(|e| {
            e.wrapped(|m| format!("failed to validate dependent schema for \"{prop}\": {m}"))
        }),
    }
}

fn check_additional(
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    in_properties: &dyn Fn(&str) -> bool,
) -> Checked {
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
                check(ps, value).map_err(|e| {
                    e.under_key(key, |m| {
                        format!("failed to validate {key} (matching \"{patt}\"): {m}")
                    })
                })?;
                matched = true;
            }
        }
        if restricts && !in_properties(key) && !matched {
            match additional {
                Some(schema @ Value::Object(_)) => check(schema, value).map_err(|e| {
                    e.under_key(key, |m| {
                        format!("failed to validate additional property {key}: {m}")
                    })
                })?,
                _ => {
                    let e =
                        SchemaError::from(format!("additional properties forbidden, found {key}"));
                    return Err(SchemaError {
                        path: JsonPath::root().under_key(key),
                        ..e
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_combinators(s: &Map<String, Value>, v: &Value) -> Checked {
    if let Some(Value::Array(values)) = s.get("enum") {
        if !values.iter().any(|e| deep_eq(v, e)) {
            return Err("matches none of the enum values".to_owned().into());
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for (i, sub) in all.iter().enumerate() {
            check(sub, v).map_err(|e| e.wrapped(|m| format!("allOf {} failed: {m}", i + 1)))?;
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
            }
            .into());
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
                    )
                    .into());
                }
                matched = Some(i + 1);
            }
        }
        if matched.is_none() {
            return Err("value should match only one schema, but matches none"
                .to_owned()
                .into());
        }
    }
    if let Some(cond) = s.get("if") {
        let matched = check(cond, v).is_ok();
        if let Some(then) = s.get("then") {
            if matched && check(then, v).is_err() {
                return Err("then clause did not match".to_owned().into());
            }
        }
        if let Some(otherwise) = s.get("else") {
            if !matched && check(otherwise, v).is_err() {
                return Err("else clause did not match".to_owned().into());
            }
        }
    }
    if let Some(not) = s.get("not") {
        if check(not, v).is_ok() {
            return Err("value wasn't supposed to match schema".to_owned().into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
