//! The array, string and number keywords (`items`, `minItems`, `maxItems`, `uniqueItems`,
//! `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, the exclusive bounds,
//! `multipleOf`) and `contains`, with api7/jsonschema's texts.

use serde_json::{Map, Value};

use super::lua::{deep_eq, lua_number, lua_quote};
use super::{check, pattern, table_kind, Checked};

/// The keywords that bound a count, and the words of their messages.
pub(super) struct CountedKeywords {
    min: &'static str,
    max: &'static str,
    /// `array` or `object`.
    container: &'static str,
    /// `items` or `properties`.
    unit: &'static str,
}

/// `minItems` / `maxItems`.
pub(super) const COUNTED_ITEMS: CountedKeywords = CountedKeywords {
    min: "minItems",
    max: "maxItems",
    container: "array",
    unit: "items",
};

/// `minProperties` / `maxProperties`.
pub(super) const COUNTED_PROPERTIES: CountedKeywords = CountedKeywords {
    min: "minProperties",
    max: "maxProperties",
    container: "object",
    unit: "properties",
};

/// `count` against the bounds `keywords` names: `expect array to have at least 1 items`.
pub(super) fn check_count(
    s: &Map<String, Value>,
    keywords: CountedKeywords,
    count: usize,
) -> Result<(), String> {
    let CountedKeywords {
        min,
        max,
        container,
        unit,
    } = keywords;
    let count = count as f64;
    let limit = |key: &str| s.get(key).and_then(Value::as_f64);
    if let Some(min) = limit(min).filter(|min| count < *min) {
        let min = lua_number(min);
        return Err(format!("expect {container} to have at least {min} {unit}"));
    }
    if let Some(max) = limit(max).filter(|max| count > *max) {
        let max = lua_number(max);
        return Err(format!("expect {container} to have at most {max} {unit}"));
    }
    Ok(())
}

pub(super) fn check_array(s: &Map<String, Value>, v: &Value) -> Checked {
    let items: &[Value] = match v {
        Value::Array(a) => a,
        Value::Object(m) if m.is_empty() => &[],
        _ => return Ok(()),
    };
    check_count(s, COUNTED_ITEMS, items.len())?;
    match s.get("items") {
        Some(Value::Array(tuple)) if !tuple.is_empty() => {
            for (i, ischema) in tuple.iter().enumerate() {
                let Some(item) = items.get(i) else { break };
                check(ischema, item).map_err(|e| {
                    e.under_index(i, |m| format!("failed to validate item {}: {m}", i + 1))
                })?;
            }
            if items.len() > tuple.len() {
                match s.get("additionalItems") {
                    Some(Value::Bool(false)) => {
                        return Err("found unexpected extra items in array".to_owned().into());
                    }
                    Some(extra @ Value::Object(_)) => {
                        for (i, item) in items.iter().enumerate().skip(tuple.len()) {
                            check(extra, item).map_err(|e| {
                                e.under_index(i, |m| {
                                    format!("failed to validate additional item {}: {m}", i + 1)
                                })
                            })?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(schema) => {
            for (i, item) in items.iter().enumerate() {
                check(schema, item).map_err(|e| {
                    e.under_index(i, |m| format!("failed to validate item {}: {m}", i + 1))
                })?;
            }
        }
        None => {}
    }
    if s.get("uniqueItems") == Some(&Value::Bool(true)) {
        if let Some((a, b)) = first_duplicate(items) {
            return Err(format!("expected unique items but items {a} and {b} are equal").into());
        }
    }
    Ok(())
}

/// jsonschema's `unique_item_in_array`: scalars first (in order), then tables pairwise;
/// 1-based positions.
fn first_duplicate(items: &[Value]) -> Option<(usize, usize)> {
    let mut seen_scalars: Vec<(&Value, usize)> = Vec::new();
    let mut tables: Vec<(&Value, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if table_kind(item).is_some() {
            tables.push((item, i + 1));
        } else if let Some((_, first)) = seen_scalars.iter().find(|(s, _)| deep_eq(s, item)) {
            return Some((*first, i + 1));
        } else {
            seen_scalars.push((item, i + 1));
        }
    }
    for (i, (a, ia)) in tables.iter().enumerate() {
        for (b, ib) in tables.iter().skip(i + 1) {
            if deep_eq(a, b) {
                return Some((*ia, *ib));
            }
        }
    }
    None
}

pub(super) fn check_string(s: &Map<String, Value>, text: &str) -> Result<(), String> {
    let len = text.chars().count() as f64;
    if let Some(min) = s.get("minLength").and_then(Value::as_f64) {
        if len < min {
            return Err(format!(
                "string too short, expected at least {}, got {}",
                lua_number(min),
                lua_number(len)
            ));
        }
    }
    if let Some(max) = s.get("maxLength").and_then(Value::as_f64) {
        if len > max {
            return Err(format!(
                "string too long, expected at most {}, got {}",
                lua_number(max),
                lua_number(len)
            ));
        }
    }
    if let Some(Value::String(p)) = s.get("pattern") {
        if !pattern::matches(p, text) {
            return Err(format!(
                "failed to match pattern {} with {}",
                lua_quote(p),
                lua_quote(text)
            ));
        }
    }
    Ok(())
}

pub(super) fn check_number(s: &Map<String, Value>, n: f64) -> Result<(), String> {
    let bound = |key: &str| s.get(key).and_then(Value::as_f64);
    let exclusive = |key: &str, inclusive: &str| match s.get(key) {
        Some(Value::Bool(true)) => bound(inclusive),
        Some(Value::Number(x)) => x.as_f64(),
        _ => None,
    };
    let fail = |what: &str, limit: f64| {
        Err(format!(
            "expected {} to be {what} {}",
            lua_number(n),
            lua_number(limit)
        ))
    };
    if let Some(min) = bound("minimum") {
        if n < min {
            return fail("at least", min);
        }
    }
    if let Some(min) = exclusive("exclusiveMinimum", "minimum") {
        if n <= min {
            return fail("greater than", min);
        }
    }
    if let Some(max) = bound("maximum") {
        if n > max {
            return fail("at most", max);
        }
    }
    if let Some(max) = exclusive("exclusiveMaximum", "maximum") {
        if n >= max {
            return fail("smaller than", max);
        }
    }
    if let Some(m) = bound("multipleOf") {
        let q = n / m;
        let rounded = (q + 0.5).floor();
        let tol = 1e-12 * if rounded == 0.0 { 1.0 } else { rounded.abs() };
        let bad = if m.fract() == 0.0 {
            n % m != 0.0
        } else {
            (q - rounded).abs() > tol
        };
        if bad {
            return fail("a multiple of", m);
        }
    }
    Ok(())
}

pub(super) fn check_contains(contains: &Value, v: &Value) -> Result<(), String> {
    match contains {
        Value::Bool(true) if table_kind(v) == Some(2) => Ok(()),
        Value::Bool(true) => Err("check contains: expect array table".to_owned()),
        Value::Bool(false) if table_kind(v).is_none() => Ok(()),
        Value::Bool(false) => Err("check contains: expect table".to_owned()),
        schema => {
            if table_kind(v) == Some(1) {
                return Err("check contains: empty array is invalid".to_owned());
            }
            if let Value::Array(items) = v {
                if !items.is_empty() && items.iter().all(|i| check(schema, i).is_err()) {
                    return Err("failed to check contains".to_owned());
                }
            }
            Ok(())
        }
    }
}
