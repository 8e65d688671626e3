//! The two PATCH edits of APISIX (`core.table.merge` and `core.table.patch`): merging a body
//! into the stored object (objects merge recursively, arrays are replaced whole, `null` deletes
//! a key), and replacing the sub-tree at a `/`-separated sub-path.
//!
//! These are local because `model` has no merge helper yet; they only edit JSON, the merged
//! object is validated by `model::validate` afterwards.

use serde_json::Value;

/// Merges `patch` into `target` as APISIX does.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let (Some(target_map), Some(patch_map)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return;
    };
    for (key, value) in patch_map {
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => match target_map.get_mut(key) {
                Some(existing @ Value::Object(_)) => merge(existing, value),
                _ => {
                    target_map.insert(key.clone(), strip_nulls(value));
                }
            },
            _ => {
                target_map.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A new object from the body drops its `null` members (they mean "absent").
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces the value at `sub_path` (`a/b/c`) in `target` with `new_value`, creating missing
/// intermediate objects. Err is APISIX's `invalid sub-path: /<path>` text.
pub(crate) fn replace_at(
    target: &mut Value,
    sub_path: &str,
    new_value: Value,
) -> Result<(), String> {
    let parts: Vec<&str> = sub_path.split('/').collect();
    let Some((last, parents)) = parts.split_last() else {
        *target = new_value;
        return Ok(());
    };
    let mut current = target;
    for (depth, name) in parents.iter().enumerate() {
        let Some(map) = current.as_object_mut() else {
            return Err(format!("invalid sub-path: /{}", parts[..depth].join("/")));
        };
        current = map
            .entry((*name).to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
        if !current.is_object() {
            return Err(format!("invalid sub-path: /{}", parts[..=depth].join("/")));
        }
    }
    let Some(map) = current.as_object_mut() else {
        return Err(format!("invalid sub-path: /{sub_path}"));
    };
    if last.is_empty() {
        *current = new_value;
    } else {
        map.insert((*last).to_owned(), new_value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_recurses_into_objects_replaces_arrays_and_deletes_nulls() {
        let mut stored = json!({
            "nodes": {"a:1": 1, "b:1": 1},
            "list": [1, 2],
            "desc": "x",
            "keep": true
        });
        merge(
            &mut stored,
            &json!({"nodes": {"b:1": null, "c:1": 2}, "list": [3], "desc": null}),
        );
        assert_eq!(
            stored,
            json!({"nodes": {"a:1": 1, "c:1": 2}, "list": [3], "keep": true})
        );
    }

    #[test]
    fn sub_path_replaces_the_subtree() {
        let mut stored = json!({"nodes": {"a:1": 1}, "type": "roundrobin"});
        replace_at(&mut stored, "nodes", json!({"b:1": 2})).expect("valid path");
        assert_eq!(stored["nodes"], json!({"b:1": 2}));
        replace_at(&mut stored, "timeout/connect", json!(3)).expect("creates parents");
        assert_eq!(stored["timeout"], json!({"connect": 3}));
    }

    #[test]
    fn sub_path_through_a_scalar_is_rejected() {
        let mut stored = json!({"type": "roundrobin"});
        let err = replace_at(&mut stored, "type/x", json!(1)).expect_err("scalar parent");
        assert_eq!(err, "invalid sub-path: /type");
    }
}
