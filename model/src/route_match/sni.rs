//! [`SniPattern`]: one `sni` / `snis` value of a stream route. An exact name, `*<suffix>`
//! (APISIX indexes the reversed name in a radix tree, so `*.x.com` matches any name ending in
//! `.x.com`, at any depth, but not `x.com`), or `*`. Case and a trailing dot are ignored.

use std::fmt;

/// One compiled `sni` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SniPattern {
    /// A full name.
    Exact(String),
    /// `*<suffix>`: names that end with `suffix`.
    Suffix(String),
    /// `*`: every name.
    Any,
}

impl SniPattern {
    /// Parses a configured value (case and a trailing dot are ignored).
    pub fn parse(text: &str) -> SniPattern {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if text == "*" {
            SniPattern::Any
        } else if let Some(suffix) = text.strip_prefix('*') {
            SniPattern::Suffix(suffix.to_owned())
        } else {
            SniPattern::Exact(text)
        }
    }
}

impl fmt::Display for SniPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SniPattern::Exact(name) => f.write_str(name),
            SniPattern::Suffix(suffix) => write!(f, "*{suffix}"),
            SniPattern::Any => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_spaces_and_trailing_dots_are_ignored() {
        assert_eq!(
            SniPattern::parse(" A.Example.COM. "),
            SniPattern::Exact("a.example.com".into())
        );
        assert_eq!(
            SniPattern::parse("*.X.com"),
            SniPattern::Suffix(".x.com".into())
        );
        assert_eq!(SniPattern::parse("*"), SniPattern::Any);
        assert_eq!(SniPattern::parse("*.x.com").to_string(), "*.x.com");
    }
}
