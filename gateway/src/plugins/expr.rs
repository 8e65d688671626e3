//! lua-resty-expr `vars` expressions over stream variables: `[[var, op, val], ...]` (all must
//! hold), an optional leading `"AND"` / `"OR"`, nested lists, `"!"` before an operator to
//! negate it. Operators: `==`, `~=`, `>`, `<`, `>=`, `<=`, `~~` (regex), `~*` (regex, any
//! case), `in`, `has`, `ipmatch`. Compiled once; a malformed part (already refused by the
//! Admin API) never matches.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use super::vars::StreamVars;

/// A compiled expression.
#[derive(Debug)]
pub enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Cond { var: String, negate: bool, op: Op },
    Never,
}

/// One comparison.
#[derive(Debug)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    Num(&'static str, f64),
    Regex(Regex),
    In(Vec<Value>),
    Has(Value),
    IpMatch(Vec<IpNet>),
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The network of an `ipmatch` operand, by the parser the Admin API validates with.
fn ip_net(text: &str) -> Option<IpNet> {
    model::ip::parse_cidr_or_ip(text).map(model::ip::IpRule::network)
}

impl Expr {
    /// Compiles a `vars` value (`None` or an empty list: always true).
    pub fn compile(vars: Option<&Value>) -> Expr {
        match vars {
            None => Expr::All(Vec::new()),
            Some(v) => Self::list(v),
        }
    }

    fn list(v: &Value) -> Expr {
        let Some(items) = v.as_array() else {
            return Expr::Never;
        };
        let (any, items) = match items.first().and_then(Value::as_str) {
            Some("OR" | "or" | "||") => (true, &items[1..]),
            Some("AND" | "and" | "&&") => (false, &items[1..]),
            Some(_) => return Self::cond(items),
            None => (false, &items[..]),
        };
        let parts = items.iter().map(Self::list).collect();
        if any {
            Expr::Any(parts)
        } else {
            Expr::All(parts)
        }
    }

    fn cond(items: &[Value]) -> Expr {
        let Some(var) = items.first().and_then(Value::as_str) else {
            return Expr::Never;
        };
        let (negate, rest) = match items.get(1).and_then(Value::as_str) {
            Some("!") => (true, &items[2..]),
            _ => (false, &items[1..]),
        };
        let (Some(op), Some(val)) = (rest.first().and_then(Value::as_str), rest.get(1)) else {
            return Expr::Never;
        };
        let op = match op {
            "==" => Op::Eq(val.clone()),
            "~=" => Op::Ne(val.clone()),
            ">" | "<" | ">=" | "<=" => match val.as_f64().or_else(|| text(val).parse().ok()) {
                Some(n) => Op::Num(
                    match op {
                        ">" => ">",
                        "<" => "<",
                        ">=" => ">=",
                        _ => "<=",
                    },
                    n,
                ),
                None => return Expr::Never,
            },
            "~~" | "~*" => {
                let pattern = if op == "~*" {
                    format!("(?i){}", text(val))
                } else {
                    text(val)
                };
                match Regex::new(&pattern) {
                    Ok(re) => Op::Regex(re),
                    Err(_) => return Expr::Never,
                }
            }
            "in" => Op::In(val.as_array().cloned().unwrap_or_default()),
            "has" => Op::Has(val.clone()),
            "ipmatch" => {
                let list = match val {
                    Value::Array(a) => a.iter().map(text).collect(),
                    other => vec![text(other)],
                };
                Op::IpMatch(list.iter().filter_map(|t| ip_net(t)).collect())
            }
            _ => return Expr::Never,
        };
        Expr::Cond {
            var: var.to_owned(),
            negate,
            op,
        }
    }

    /// Evaluates over `vars`.
    pub fn eval(&self, vars: &StreamVars<'_>) -> bool {
        match self {
            Expr::All(parts) => parts.iter().all(|p| p.eval(vars)),
            Expr::Any(parts) => parts.iter().any(|p| p.eval(vars)),
            Expr::Never => false,
            Expr::Cond { var, negate, op } => {
                let value = vars.get(var);
                let hit = match (op, value.as_deref()) {
                    (Op::Ne(want), v) => v != Some(text(want).as_str()),
                    (_, None) => false,
                    (Op::Eq(want), Some(v)) => v == text(want),
                    (Op::Num(cmp, n), Some(v)) => match v.parse::<f64>() {
                        Ok(x) => match *cmp {
                            ">" => x > *n,
                            "<" => x < *n,
                            ">=" => x >= *n,
                            _ => x <= *n,
                        },
                        Err(_) => false,
                    },
                    (Op::Regex(re), Some(v)) => re.is_match(v),
                    (Op::In(list), Some(v)) => list.iter().any(|w| text(w) == v),
                    (Op::Has(want), Some(v)) => v.contains(text(want).as_str()),
                    (Op::IpMatch(nets), Some(v)) => v
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| nets.iter().any(|n| n.contains(&ip.to_canonical()))),
                };
                hit != *negate
            }
        }
    }
}
