//! [`JsonPath`]: where in a JSON document a validation error points, written as JSONPath
//! (`$.upstream.timeout.connect`, `$.upstream.nodes[0].host`, `$.upstream.nodes["10.0.0.1:80"]`).
//! The schema validator builds it from the inside out while its error travels up
//! ([`JsonPath::under_key`], [`JsonPath::under_index`]); the resource checks set it for the
//! errors they raise themselves. Editors (the dashboard) use it to show an error next to the
//! field at fault.

use std::fmt;

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// An object member.
    Key(String),
    /// An array element (0-based).
    Index(usize),
}

/// A path from the document root; empty is the root itself (`$`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonPath(pub Vec<PathSegment>);

impl JsonPath {
    /// The document root.
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }

    /// A path of object keys: `JsonPath::keys(["upstream", "type"])` is `$.upstream.type`.
    pub fn keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        JsonPath(
            keys.into_iter()
                .map(|k| PathSegment::Key(k.into()))
                .collect(),
        )
    }

    /// This path seen from one object level up: `key` is put in front.
    pub fn under_key(mut self, key: &str) -> Self {
        self.0.insert(0, PathSegment::Key(key.to_owned()));
        self
    }

    /// This path seen from one array level up: `index` is put in front.
    pub fn under_index(mut self, index: usize) -> Self {
        self.0.insert(0, PathSegment::Index(index));
        self
    }

    /// `other` appended to this path.
    pub fn join(mut self, other: JsonPath) -> Self {
        self.0.extend(other.0);
        self
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this path is `prefix` or lies inside it.
    pub fn starts_with(&self, prefix: &JsonPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The object keys of the path, in order (indexes left out): `upstream`, `nodes`.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|s| match s {
            PathSegment::Key(k) => Some(k.as_str()),
            PathSegment::Index(_) => None,
        })
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for segment in &self.0 {
            match segment {
                PathSegment::Key(k) if is_identifier(k) => write!(f, ".{k}")?,
                PathSegment::Key(k) => write!(f, "[{}]", serde_json::Value::from(k.as_str()))?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_as_jsonpath() {
        assert_eq!(JsonPath::root().to_string(), "$");
        let p = JsonPath::keys(["host"])
            .under_index(0)
            .under_key("nodes")
            .under_key("upstream");
        assert_eq!(p.to_string(), "$.upstream.nodes[0].host");
        let odd = JsonPath::keys(["upstream", "nodes", "10.0.0.1:80"]);
        assert_eq!(odd.to_string(), r#"$.upstream.nodes["10.0.0.1:80"]"#);
        assert_eq!(
            JsonPath::keys(["plugins", "limit-conn"]).to_string(),
            "$.plugins.limit-conn"
        );
    }

    #[test]
    fn prefixes_and_key_names() {
        let p = JsonPath::keys(["upstream", "timeout", "read"]);
        assert!(p.starts_with(&JsonPath::keys(["upstream"])));
        assert!(!p.starts_with(&JsonPath::keys(["plugins"])));
        assert_eq!(
            p.key_names().collect::<Vec<_>>(),
            ["upstream", "timeout", "read"]
        );
    }
}
