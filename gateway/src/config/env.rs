//! `${{VAR}}` and `${{VAR:=default}}` substitution in a parsed YAML document (APISIX's
//! `resolve_conf_var`, used for `conf/config.yaml` and the standalone `apisix.yaml`).
//!
//! Substitution runs on the parsed document, one string scalar (or mapping key) at a time, so
//! a variable's value can never change the document's structure: a value holding `: `, `#`,
//! quotes or a newline stays one string. Comments are never substituted (they are gone).
//!
//! Typing follows APISIX: a scalar in which a variable was substituted becomes a number when
//! the result is one for Lua's `tonumber` (`9100`, `0.5`, `0x10`), `true`/`false` when it is
//! exactly that word, and stays a string otherwise. YAML quotes do not change this (APISIX's
//! YAML parser does not report them): `port: "${{PORT}}"` is a number too. Keys are
//! substituted but stay strings.
//!
//! A set variable wins (even when empty), then the default (trimmed); a variable with neither
//! is an error naming it.

use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde_norway::{Mapping, Value};

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"\$\{\{\s*([A-Za-z0-9_]+)(?:\s*:=(.*?))?\s*\}\}")
            .expect("the env substitution pattern is a valid regex")
    })
}

/// Substitutes every `${{VAR}}` / `${{VAR:=default}}` in the string scalars and keys of
/// `document`, looking variables up with `lookup`. Returns one error per missing variable.
pub fn resolve(
    document: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    walk(document, lookup, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Parses `text` as YAML and resolves its variables: what both config loaders do.
pub fn parse_yaml(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, EnvYamlError> {
    let mut document: Value = serde_norway::from_str(text).map_err(EnvYamlError::Yaml)?;
    resolve(&mut document, lookup).map_err(EnvYamlError::Variables)?;
    Ok(document)
}

/// Why [`parse_yaml`] failed.
#[derive(Debug)]
pub enum EnvYamlError {
    /// The text is not YAML.
    Yaml(serde_norway::Error),
    /// Variables without a value or default, one message each.
    Variables(Vec<String>),
}

fn walk(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Some(substituted) = substitute_scalar(text, lookup, errors) {
                *value = typed(substituted);
            }
        }
        Value::Sequence(items) => {
            for item in items {
                walk(item, lookup, errors);
            }
        }
        Value::Mapping(map) => {
            let entries = std::mem::take(map);
            let mut resolved = Mapping::with_capacity(entries.len());
            for (mut key, mut item) in entries {
                if let Value::String(text) = &key {
                    if let Some(substituted) = substitute_scalar(text, lookup, errors) {
                        key = Value::String(substituted);
                    }
                }
                walk(&mut item, lookup, errors);
                resolved.insert(key, item);
            }
            *map = resolved;
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, lookup, errors),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with its variables substituted, or `None` when it has none (it stays as it is).
pub fn substitute_scalar(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<String> {
    if !pattern().is_match(text) {
        return None;
    }
    let replaced = pattern().replace_all(text, |caps: &Captures<'_>| {
        let name = &caps[1];
        if let Some(value) = lookup(name) {
            return value;
        }
        if let Some(default) = caps.get(2) {
            return default.as_str().trim().to_string();
        }
        errors.push(format!(
            "failed to handle configuration: can't find environment variable {name}"
        ));
        String::new()
    });
    Some(replaced.into_owned())
}

/// APISIX's typing of a substituted scalar: a Lua number, a boolean word, or the string.
fn typed(text: String) -> Value {
    match text.as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    match model::ip::lua_tonumber(&text) {
        Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => {
            // An integral value below 2^53 converts exactly.
            Value::Number((n as i64).into())
        }
        Some(n) if n.is_finite() => Value::Number(n.into()),
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("9100".into()),
            "EMPTY" => Some(String::new()),
            "INJECT" => Some("x\nadmin_key: stolen # not a comment".into()),
            _ => None,
        }
    }

    fn resolved(text: &str) -> Value {
        parse_yaml(text, &env).expect("resolves")
    }

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).expect("yaml")
    }

    #[test]
    fn set_variables_are_substituted_and_typed_like_apisix() {
        assert_eq!(
            resolved("port: ${{PORT}}\nname: \"${{ PORT }}\"\nurl: http://h:${{PORT}}\n"),
            yaml("port: 9100\nname: 9100\nurl: \"http://h:9100\"\n")
        );
        assert_eq!(
            resolved("a: ${{NOPE:=true}}\nb: ${{NOPE:=0.5}}\nc: ${{NOPE:=True}}\n"),
            yaml("a: true\nb: 0.5\nc: \"True\"\n")
        );
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(
            resolved("a: ${{NOPE:=1.2.3.4}}\nb: ${{PORT:=1}}\nc: ${{EMPTY:=x}}"),
            yaml("a: 1.2.3.4\nb: 9100\nc: \"\"")
        );
    }

    #[test]
    fn empty_default_is_allowed() {
        assert_eq!(resolved("k: '${{NOPE:=}}'"), yaml("k: ''"));
    }

    #[test]
    fn missing_variable_without_default_is_an_error_naming_it() {
        let Err(EnvYamlError::Variables(errors)) =
            parse_yaml("a: ${{MISSING_ONE}}\nb: ${{MISSING_TWO}}", &env)
        else {
            panic!("missing variables are errors");
        };
        assert_eq!(
            errors,
            [
                "failed to handle configuration: can't find environment variable MISSING_ONE",
                "failed to handle configuration: can't find environment variable MISSING_TWO",
            ]
        );
    }

    #[test]
    fn comments_are_not_substituted() {
        assert_eq!(
            resolved("# use ${{MISSING}} here\nk: 1 # ${{MISSING}}\n"),
            yaml("k: 1")
        );
    }

    #[test]
    fn a_value_with_a_newline_and_a_colon_stays_one_string() {
        let doc = resolved("deployment:\n  admin:\n    name: ${{INJECT}}\n");
        assert_eq!(
            doc,
            yaml("deployment:\n  admin:\n    name: \"x\\nadmin_key: stolen # not a comment\"\n")
        );
    }

    #[test]
    fn keys_are_substituted_and_stay_strings() {
        assert_eq!(
            resolved("nodes: {\"127.0.0.1:${{PORT}}\": 1, \"${{PORT}}\": 2}"),
            yaml("nodes: {\"127.0.0.1:9100\": 1, \"9100\": 2}")
        );
    }
}
