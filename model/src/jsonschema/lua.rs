//! How LuaJIT and lua-cjson print values, so messages built from them read exactly as APISIX's:
//! numbers use `%.14g`, `%q` quoting for patterns and strings, Lua type names (`table`,
//! `userdata` for JSON null) and cjson's compact JSON encoding.

use serde_json::Value;

/// A number as LuaJIT's `tostring` prints it (`%.14g`): `1`, `0.5`, `1e+20`.
pub fn lua_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    const PRECISION: i32 = 14;
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exp) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (PRECISION - 1 - exp).max(0) as usize;
        strip_fraction_zeros(&format!("{n:.decimals$}"))
    }
}

fn strip_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// A JSON number as Lua prints it.
pub fn number_text(n: &serde_json::Number) -> String {
    lua_number(n.as_f64().unwrap_or(f64::NAN))
}

/// `tostring(v)` for the scalar values that appear in messages (ids, ports). Strings are
/// returned as they are; tables print as `table`.
pub fn lua_tostring(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "userdata: NULL".to_owned(),
        Value::Array(_) | Value::Object(_) => "table".to_owned(),
    }
}

/// Lua's `type()` of a decoded JSON value: `string`, `number`, `boolean`, `table` (arrays and
/// objects) and `userdata` (cjson's null).
pub fn lua_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "userdata",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "table",
    }
}

/// LuaJIT's `string.format("%q", s)`.
pub fn lua_quote(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'"');
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'"' | b'\\' | b'\n' => {
                out.push(b'\\');
                out.push(c);
            }
            c if c < 0x20 || c == 0x7f => {
                out.push(b'\\');
                let next_is_digit = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                if c >= 100 || next_is_digit {
                    out.extend(format!("{c:03}").as_bytes());
                } else {
                    out.extend(c.to_string().as_bytes());
                }
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
    String::from_utf8_lossy(&out).into_owned()
}

/// cjson's encoding: compact, `/` escaped as `\/`, numbers as `%.14g`.
pub fn cjson_encode(v: &Value) -> String {
    let mut out = String::new();
    encode_into(v, &mut out);
    out
}

fn encode_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => encode_str(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_str(k, out);
                out.push(':');
                encode_into(item, out);
            }
            out.push('}');
        }
    }
}

fn encode_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lua's `==` between decoded JSON values, with tables compared deeply (jsonschema's
/// `deepeq`). An empty array equals an empty object, as both are an empty Lua table.
pub fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| deep_eq(p, q)))
        }
        (Value::Array(x), Value::Object(y)) | (Value::Object(y), Value::Array(x)) => {
            x.is_empty() && y.is_empty()
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_luajit() {
        assert_eq!(lua_number(0.0), "0");
        assert_eq!(lua_number(65536.0), "65536");
        assert_eq!(lua_number(-1.0), "-1");
        assert_eq!(lua_number(0.5), "0.5");
        assert_eq!(lua_number(1e20), "1e+20");
        assert_eq!(lua_number(1e14), "1e+14");
        assert_eq!(lua_number(99_999_999_999_999.0), "99999999999999");
        assert_eq!(lua_number(0.0001), "0.0001");
        assert_eq!(lua_number(0.00001), "1e-05");
        assert_eq!(lua_number(9_999_999_999.0), "9999999999");
    }

    #[test]
    fn quoting_escapes_like_percent_q() {
        assert_eq!(lua_quote(r"^\S+$"), r#""^\\S+$""#);
        assert_eq!(lua_quote("a\"b"), r#""a\"b""#);
        assert_eq!(lua_quote("a\rb"), r#""a\13b""#);
        assert_eq!(lua_quote("a\r1"), r#""a\0131""#);
    }

    #[test]
    fn cjson_escapes_slash() {
        assert_eq!(cjson_encode(&serde_json::json!("a/b")), r#""a\/b""#);
        assert_eq!(cjson_encode(&serde_json::json!(["a", "b"])), r#"["a","b"]"#);
        assert_eq!(cjson_encode(&serde_json::json!(1.5)), "1.5");
    }
}
