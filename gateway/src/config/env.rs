//! `${{VAR}}` and `${{VAR:=default}}` substitution in the raw config text, before parsing
//! (APISIX's `var_sub`): the YAML parser then infers the type of the substituted text, so
//! `port: ${{PORT}}` becomes a number and `"${{PORT}}"` stays a string.
//!
//! A set variable wins (even when empty), then the default; a variable with neither is an
//! error naming it. Whole-line comments are left alone so documentation can mention the syntax.

use std::sync::OnceLock;

use regex::{Captures, Regex};

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"\$\{\{\s*([A-Za-z0-9_]+)(?:\s*:=(.*?))?\s*\}\}")
            .expect("the env substitution pattern is a valid regex")
    })
}

/// Substitutes every `${{VAR}}` / `${{VAR:=default}}` in `text`, looking variables up with
/// `lookup`. Returns one error per missing variable.
pub fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let replaced = pattern().replace_all(line, |caps: &Captures<'_>| {
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
        out.push_str(&replaced);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::substitute;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("9100".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn set_variables_are_substituted() {
        let out = substitute("port: ${{PORT}}\nname: \"${{ PORT }}\"\n", env).expect("ok");
        assert_eq!(out, "port: 9100\nname: \"9100\"\n");
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        let out = substitute(
            "a: ${{NOPE:=1.2.3.4}}\nb: ${{PORT:=1}}\nc: ${{EMPTY:=x}}",
            env,
        )
        .expect("ok");
        assert_eq!(out, "a: 1.2.3.4\nb: 9100\nc: ");
    }

    #[test]
    fn empty_default_is_allowed() {
        assert_eq!(substitute("k: '${{NOPE:=}}'", env).expect("ok"), "k: ''");
    }

    #[test]
    fn missing_variable_without_default_is_an_error_naming_it() {
        let errors =
            substitute("a: ${{MISSING_ONE}}\nb: ${{MISSING_TWO}}", env).expect_err("missing");
        assert_eq!(
            errors,
            [
                "failed to handle configuration: can't find environment variable MISSING_ONE",
                "failed to handle configuration: can't find environment variable MISSING_TWO",
            ]
        );
    }

    #[test]
    fn comment_lines_are_not_substituted() {
        let text = "# use ${{MISSING}} here\nk: 1\n";
        assert_eq!(substitute(text, env).expect("ok"), text);
    }
}
