//! PCRE patterns (as APISIX's schemas write them for `ngx.re.find`) run on the `regex` crate,
//! and the `format` keyword. Patterns are translated once and cached: `$` keeps PCRE's
//! meaning (end, or before a final newline) and `\d` stays ASCII.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{LazyLock, Mutex};

use regex::Regex;

static CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `pattern` (PCRE syntax, unanchored search) matches `text`. A pattern that does not
/// compile matches nothing, as `ngx.re.find` returning an error does in APISIX.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut cache = match CACHE.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let re = cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(&translate(pattern)).ok());
    re.as_ref().is_some_and(|re| re.is_match(text))
}

/// Rewrites the PCRE constructs whose meaning differs in the `regex` crate.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') if in_class => out.push_str("0-9"),
                Some('d') => out.push_str("[0-9]"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class => out.push_str(r"(?:\n?\z)"),
            c => out.push(c),
        }
    }
    out
}

/// The `format` keyword: `Some(true/false)` for the formats api7/jsonschema knows, `None`
/// for an unknown format (not checked).
pub fn format_ok(format: &str, s: &str) -> Option<bool> {
    let re = match format {
        "ipv4" => return Some(s.parse::<Ipv4Addr>().is_ok()),
        "ipv6" => return Some(s.parse::<Ipv6Addr>().is_ok()),
        "email" => r"^([A-Za-z0-9_\-\.])+\@([A-Za-z0-9_\-\.])+\.([A-Za-z]{2,4})$",
        "hostname" => r"^[a-zA-Z0-9\-\.]+$",
        "uuid" => r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "date" => r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$",
        "date-time" => {
            r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
        }
        "uri" => r"^[a-zA-Z][a-zA-Z0-9+\-.]*:[^\s]*$",
        _ => return None,
    };
    Some(matches(re, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_allows_a_final_newline_like_pcre() {
        assert!(matches(r"^\S+$", "abc\n"));
        assert!(!matches(r"^\S+$", "a b"));
    }

    #[test]
    fn apisix_id_pattern_accepts_dash_underscore_dot() {
        assert!(matches(r"^[a-zA-Z0-9-_.]+$", "a-b_c.d"));
        assert!(!matches(r"^[a-zA-Z0-9-_.]+$", "a b"));
    }

    #[test]
    fn digit_class_is_ascii() {
        assert!(matches(r"^\d+$", "123"));
        assert!(!matches(r"^\d+$", "١٢"));
        assert!(matches(r"^[\da-f]+$", "12af"));
    }
}
