//! PATCH as APISIX applies it (`core.table.merge` / `core.table.patch`) before the merged
//! object goes through the full write check.

use serde_json::{Map, Value};

use crate::ValidationError;

/// Whether Lua's `isarray` holds for a decoded JSON table: arrays, and empty objects.
fn lua_is_array(v: &Value) -> bool {
    match v {
        Value::Array(_) => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Merges `patch` into `target` as `core.table.merge` does: objects merge key by key,
/// `null` deletes a key, arrays (and empty objects) replace the old value whole, anything
/// else replaces. A non-object `target` is replaced by an object first.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(origin) = target else {
        return;
    };
    for (k, v) in patch {
        match v {
            Value::Null => {
                origin.remove(k);
            }
            Value::Object(_) | Value::Array(_) => match origin.get_mut(k) {
                Some(old @ (Value::Object(_) | Value::Array(_)))
                    if !lua_is_array(old) && !lua_is_array(v) =>
                {
                    merge_patch(old, v);
                }
                _ => {
                    origin.insert(k.clone(), v.clone());
                }
            },
            _ => {
                origin.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `PATCH /<res>/<id>/<sub_path>`: replaces the value at `sub_path` (segments separated by
/// `/`), creating missing objects on the way; an empty last segment replaces the whole
/// object. A segment that crosses a non-object is `invalid sub-path: /<prefix>`.
pub fn set_sub_path(
    target: &mut Value,
    sub_path: &str,
    value: Value,
) -> Result<(), ValidationError> {
    let segments: Vec<&str> = sub_path.split('/').collect();
    let (last, parents) = segments.split_last().unwrap_or((&"", &[]));
    let mut node = target;
    for (i, seg) in parents.iter().enumerate() {
        let invalid =
            || ValidationError::new(format!("invalid sub-path: /{}", segments[..=i].join("/")));
        let Value::Object(map) = node else {
            return Err(ValidationError::new(format!(
                "invalid sub-path: /{}",
                segments[..i].join("/")
            )));
        };
        node = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !node.is_object() {
            return Err(invalid());
        }
    }
    if last.is_empty() {
        *node = value;
        return Ok(());
    }
    match node {
        Value::Object(map) => {
            map.insert((*last).to_owned(), value);
            Ok(())
        }
        _ => Err(ValidationError::new(format!(
            "invalid sub-path: /{sub_path}"
        ))),
    }
}
