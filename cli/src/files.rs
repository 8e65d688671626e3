//! Reading bodies and APISIX standalone files (`stream_routes:`, `upstreams:`, `services:`,
//! `ssls:`, `plugin_metadata:`; YAML or JSON; the `#END` line optional; `${{VAR}}` and
//! `${{VAR:=default}}` substituted as APISIX does) into a flat list of [`FileObject`]s.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use model::ResourceKind;
use serde_json::Value;

/// One object of a standalone file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObject {
    pub kind: ResourceKind,
    /// Its id as a string (`7` and `"7"` are the same object).
    pub id: String,
    /// Position in its section, for messages: `stream_routes[1]`.
    pub index: usize,
    /// The object as written, `id` included.
    pub value: Value,
}

impl FileObject {
    /// `stream_routes[1] (id 7)`.
    pub fn path(&self) -> String {
        format!("{}[{}] (id {})", self.kind.dir(), self.index, self.id)
    }
}

/// The objects of some files, and what is wrong with their shape.
#[derive(Debug, Default)]
pub struct Parsed {
    pub objects: Vec<FileObject>,
    /// `<file>: stream_routes[2]: missing id` and the like.
    pub errors: Vec<String>,
}

/// Reads `path` (`-` = stdin) as text.
pub fn read_source(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Parses one JSON or YAML document, after `${{VAR}}` substitution.
pub fn parse_document(text: &str) -> anyhow::Result<Value> {
    let text = substitute_env(text, |name| std::env::var(name).ok())?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str(trimmed) {
            return Ok(v);
        }
    }
    let value: Value = serde_norway::from_str(&text).context("invalid YAML/JSON")?;
    Ok(value)
}

/// Reads a body file (`-f FILE|-`): one JSON/YAML object.
pub fn read_body(path: &Path) -> anyhow::Result<serde_json::Map<String, Value>> {
    let text = read_source(path)?;
    match parse_document(&text).with_context(|| path.display().to_string())? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(serde_json::Map::new()),
        _ => bail!("{}: the body must be an object", path.display()),
    }
}

/// Reads and parses standalone files; read or syntax failures are errors, shape problems
/// are collected in [`Parsed::errors`].
pub fn load_files(paths: &[impl AsRef<Path>]) -> anyhow::Result<Parsed> {
    let mut parsed = Parsed::default();
    for path in paths {
        let path = path.as_ref();
        let text = read_source(path)?;
        let doc = parse_document(&text).with_context(|| path.display().to_string())?;
        let one = parse_standalone(&doc);
        parsed.objects.extend(one.objects);
        parsed.errors.extend(
            one.errors
                .into_iter()
                .map(|e| format!("{}: {e}", path.display())),
        );
    }
    check_duplicates(&mut parsed);
    Ok(parsed)
}

/// Splits a standalone document into objects.
pub fn parse_standalone(doc: &Value) -> Parsed {
    let mut parsed = Parsed::default();
    let map = match doc {
        Value::Object(map) => map,
        Value::Null => return parsed,
        _ => {
            parsed
                .errors
                .push("the file must be a mapping of resource lists".to_owned());
            return parsed;
        }
    };
    for (section, items) in map {
        if section.ends_with("_conf_version") {
            continue;
        }
        let Some(kind) = ResourceKind::from_dir(section) else {
            parsed
                .errors
                .push(format!("{section}: unknown section (expected stream_routes, upstreams, services, ssls, plugin_metadata)"));
            continue;
        };
        let items = match items {
            Value::Array(items) => items.as_slice(),
            Value::Null => &[],
            _ => {
                parsed.errors.push(format!("{section}: must be a list"));
                continue;
            }
        };
        for (index, item) in items.iter().enumerate() {
            if !item.is_object() {
                parsed
                    .errors
                    .push(format!("{section}[{index}]: must be an object"));
                continue;
            }
            match item.get("id").and_then(model::types::id_string) {
                Some(id) => parsed.objects.push(FileObject {
                    kind,
                    id,
                    index,
                    value: item.clone(),
                }),
                None => parsed
                    .errors
                    .push(format!("{section}[{index}]: missing id")),
            }
        }
    }
    parsed
}

fn check_duplicates(parsed: &mut Parsed) {
    let mut seen = std::collections::HashSet::new();
    for obj in &parsed.objects {
        if !seen.insert((obj.kind, obj.id.clone())) {
            parsed
                .errors
                .push(format!("{}: duplicate id {}", obj.path(), obj.id));
        }
    }
}

/// Replaces `${{NAME}}` and `${{NAME:=default}}`; an unset variable without default is an error.
pub fn substitute_env(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = after[..end].trim();
        let (name, default) = match inner.split_once(":=") {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (inner, None),
        };
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                bail!("failed to handle configuration: can't find environment variable {name}")
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
stream_routes:
  - id: 1
    server_port: 9100
    upstream_id: 1
upstreams:
  - id: u1
    nodes: {\"127.0.0.1:1995\": 1}
#END
";

    #[test]
    fn standalone_yaml_yields_objects_with_string_ids() {
        let doc = parse_document(SAMPLE).expect("valid yaml");
        let parsed = parse_standalone(&doc);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.objects.len(), 2);
        assert_eq!(parsed.objects[0].kind, ResourceKind::StreamRoutes);
        assert_eq!(parsed.objects[0].id, "1");
        assert_eq!(parsed.objects[1].path(), "upstreams[0] (id u1)");
    }

    #[test]
    fn json_documents_parse_too() {
        let doc = parse_document(r#"{"upstreams":[{"id":"a","nodes":{"h:1":1}}]}"#).expect("json");
        assert_eq!(parse_standalone(&doc).objects[0].id, "a");
    }

    #[test]
    fn missing_ids_and_unknown_sections_are_reported() {
        let doc = parse_document("routes: []\nupstreams:\n  - nodes: {}\n").expect("yaml");
        let parsed = parse_standalone(&doc);
        assert_eq!(parsed.errors.len(), 2, "{:?}", parsed.errors);
        assert!(parsed.errors[1].contains("upstreams[0]: missing id"));
    }

    #[test]
    fn duplicate_ids_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "upstreams:\n  - id: 1\n  - id: \"1\"\n").expect("write");
        let parsed = load_files(&[file]).expect("loads");
        assert!(parsed.errors.iter().any(|e| e.contains("duplicate id 1")));
    }

    #[test]
    fn env_substitution_uses_value_then_default() {
        let lookup = |n: &str| (n == "PORT").then(|| "9100".to_owned());
        assert_eq!(
            substitute_env("p: ${{PORT}} h: ${{HOST:=127.0.0.1}}", lookup).expect("ok"),
            "p: 9100 h: 127.0.0.1"
        );
        assert!(substitute_env("${{NOPE}}", lookup).is_err());
    }
}
