//! `${{VAR}}` substitution never changes a YAML document's structure: whatever the variable
//! holds (`: `, `#`, quotes, newlines, brackets), the document has the same keys and list
//! lengths as with a harmless value, and each substituted scalar is exactly the value (or
//! APISIX's typing of it: a number or a boolean word).

use apisix_gateway::config::env::parse_yaml;
use proptest::prelude::*;
use serde_norway::Value;

/// Variables in keys, values, list items, flow collections, quoted and inside longer text.
const TEMPLATE: &str = "\
apisix:
  name: ${{V}}
  quoted: \"${{V}}\"
  single: '${{V}}'
  inside: prefix ${{V}} suffix
  list:
    - ${{V}}
    - plain
  flow: {a: \"${{V}}\", b: 1}
  ${{V}}: key
deployment:
  admin:
    admin_key:
      - name: admin
        key: ${{V}}
";

/// The document's shape: every key path and list length, values left out.
fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, item) in map {
                let key = match key {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                shape(item, &format!("{path}.{key}"), out);
            }
        }
        Value::Sequence(items) => {
            out.push(format!("{path}[{}]", items.len()));
            for (i, item) in items.iter().enumerate() {
                shape(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

/// A substituted whole value as APISIX types it.
fn typed(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match model::ip::lua_tonumber(text) {
            Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9e15 => {
                Value::Number((n as i64).into())
            }
            Some(n) if n.is_finite() => Value::Number(n.into()),
            _ => Value::String(text.to_owned()),
        },
    }
}

fn tricky_value() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(": ".to_owned()),
        Just("#".to_owned()),
        Just(" # ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\n".to_owned()),
        Just("\n  key: injected\n".to_owned()),
        Just("- ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(",".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!!int ".to_owned()),
        Just("---\n".to_owned()),
        Just("\\".to_owned()),
        Just("${{V}}".to_owned()),
        "[a-z0-9 .]{0,6}",
    ];
    proptest::collection::vec(pieces, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn substitution_never_changes_the_document_structure(value in tricky_value()) {
        // A value naming one of the template's keys replaces that key (as in APISIX).
        prop_assume!(!["name", "quoted", "single", "inside", "list", "flow"].contains(&value.as_str()));
        let harmless = parse_yaml(TEMPLATE, &|_: &str| Some("__V__".to_owned())).expect("template parses");
        let lookup = |name: &str| (name == "V").then(|| value.clone());
        let doc = parse_yaml(TEMPLATE, &lookup).expect("substitution succeeds");

        let (mut want, mut got) = (Vec::new(), Vec::new());
        shape(&harmless, "", &mut want);
        let apisix = doc.get("apisix").expect("apisix");
        // The substituted key is the value itself; rename it to compare shapes.
        let mut renamed = doc.clone();
        if let Some(Value::Mapping(map)) = renamed.get_mut("apisix") {
            let item = map.remove(value.as_str()).expect("the substituted key is the value");
            map.insert(Value::String("__V__".to_owned()), item);
        }
        shape(&renamed, "", &mut got);
        want.sort();
        got.sort();
        prop_assert_eq!(&got, &want);

        let whole = typed(&value);
        for key in ["name", "quoted", "single"] {
            prop_assert_eq!(apisix.get(key), Some(&whole), "apisix.{}", key);
        }
        prop_assert_eq!(&apisix["list"][0], &whole);
        prop_assert_eq!(&apisix["flow"]["a"], &whole);
        prop_assert_eq!(&doc["deployment"]["admin"]["admin_key"][0]["key"], &whole);
        let inside = format!("prefix {value} suffix");
        prop_assert_eq!(&apisix["inside"], &typed(&inside));
    }
}
