//! The compile-time checks of lua-resty-expr (`expr.new`), used by traffic-split's
//! `match[].vars`: the same rules and texts, without evaluating anything.

use serde_json::Value;

const LOGIC_OPS: [&str; 4] = ["OR", "!OR", "AND", "!AND"];
const COMPARE_OPS: [&str; 11] = [
    "==", "~=", ">", ">=", "<", "<=", "~~", "~*", "in", "has", "ipmatch",
];

fn is_compare_op(op: &str) -> bool {
    COMPARE_OPS.contains(&op)
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// Lua's `#t` for a decoded JSON value.
fn len(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        _ => 0,
    }
}

fn item(v: &Value, i: usize) -> Option<&Value> {
    v.as_array().and_then(|a| a.get(i))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(crate::jsonschema::lua_number(n.as_f64().unwrap_or(0.0))),
        _ => None,
    }
}

/// `expr.new(rule)`: `Err` carries lua-resty-expr's message.
pub fn check_expr(rule: Option<&Value>) -> Result<(), String> {
    let Some(rule) = rule else {
        return Err("missing argument rule".to_owned());
    };
    if len(rule) == 0 {
        return Ok(());
    }
    if let Some(first) = item(rule, 0) {
        if !is_table(first) {
            let op = text(first).unwrap_or_default().to_uppercase();
            if !LOGIC_OPS.contains(&op.as_str()) {
                return Err("rule should be wrapped inside brackets".to_owned());
            }
        }
    }
    compile(rule)
}

fn compile(rules: &Value) -> Result<(), String> {
    let n = len(rules);
    if n == 0 {
        return Err("rule too short".to_owned());
    }
    let items = rules.as_array().map(Vec::as_slice).unwrap_or_default();
    if is_table(&items[0]) {
        return items.iter().try_for_each(compile);
    }
    let op = text(&items[0]).unwrap_or_default().to_uppercase();
    if LOGIC_OPS.contains(&op.as_str()) {
        if n <= 2 {
            return Err("rule too short".to_owned());
        }
        return items[1..].iter().try_for_each(compile);
    }
    compile_expr(items)
}

fn compile_expr(expr: &[Value]) -> Result<(), String> {
    let (l_v, op, r_v) = if expr.len() == 4 {
        if expr[1].as_str() != Some("!") {
            return Err("bad 'not' expression".to_owned());
        }
        (expr.first(), expr.get(2), expr.get(3))
    } else {
        (expr.first(), expr.get(1), expr.get(2))
    };
    let mut op = op.map(|o| text(o).unwrap_or_default().to_lowercase());
    let mut r_v = r_v.cloned();
    if r_v.is_none() && !op.as_deref().is_some_and(is_compare_op) {
        match op.take() {
            Some(o) => {
                r_v = Some(Value::String(o));
                op = Some("==".to_owned());
            }
            None => return Err("invalid expression".to_owned()),
        }
    }
    let Some(op) = op.filter(|_| l_v.is_some()) else {
        return Err("invalid expression".to_owned());
    };
    if !is_compare_op(&op) {
        return Err(format!("invalid operator '{op}'"));
    }
    if op == "ipmatch" {
        let list = match r_v {
            None | Some(Value::Bool(false)) => return Err("invalid ip address".to_owned()),
            Some(Value::String(s)) if s.is_empty() => {
                return Err("invalid ip address".to_owned());
            }
            Some(Value::Array(a)) => a,
            Some(other) => vec![other],
        };
        if list.is_empty() {
            return Err("invalid ip address".to_owned());
        }
        for ip in &list {
            let s = text(ip).unwrap_or_default();
            if !crate::ip::validate_cidr_or_ip(&s) {
                return Err(format!("invalid ip address: {s}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_expr;

    #[test]
    fn expressions_follow_lua_resty_expr_rules() {
        assert!(check_expr(Some(&json!([["remote_addr", "==", "127.0.0.1"]]))).is_ok());
        assert!(check_expr(Some(&json!([]))).is_ok());
        assert_eq!(
            check_expr(None).expect_err("should be rejected"),
            "missing argument rule"
        );
        assert_eq!(
            check_expr(Some(&json!(["remote_addr", "==", "1"]))).expect_err("should be rejected"),
            "rule should be wrapped inside brackets"
        );
        assert_eq!(
            check_expr(Some(&json!([["a", "<>", "1"]]))).expect_err("should be rejected"),
            "invalid operator '<>'"
        );
        assert_eq!(
            check_expr(Some(&json!([["a", "x", "==", "1"]]))).expect_err("should be rejected"),
            "bad 'not' expression"
        );
        assert_eq!(
            check_expr(Some(&json!(["AND", ["a", "==", "1"]]))).expect_err("should be rejected"),
            "rule too short"
        );
        assert_eq!(
            check_expr(Some(&json!([["remote_addr", "ipmatch", "x"]])))
                .expect_err("should be rejected"),
            "invalid ip address: x"
        );
    }
}
