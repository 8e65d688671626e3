//! nginx-style variable references in a text template (`$name`, `${name}`), compiled once here
//! for the access log format ([`crate::accesslog`]) and chash `vars_combinations` keys
//! ([`crate::balancer`]). Each caller says what a variable name compiles to.

/// One piece of a compiled template, in order; no two text pieces are adjacent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<V> {
    /// Literal text.
    Text(String),
    /// A variable, as the caller compiled its name.
    Var(V),
}

/// Compiles `a-$x-${y}` into `a-`, `x`, `-`, `y`: a name is `$` and letters, digits and `_`,
/// or `${...}`; `var` turns each name into `V`. A `$` that starts no name stays text, and
/// `${}` becomes `empty_reference` (the access log keeps `${}`, chash keys keep `$`).
pub fn compile<V>(
    template: &str,
    empty_reference: &str,
    mut var: impl FnMut(&str) -> V,
) -> Vec<Piece<V>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        rest = match reference(after) {
            Some(("", tail)) => {
                text.push_str(empty_reference);
                tail
            }
            Some((name, tail)) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Var(var(name)));
                tail
            }
            None => {
                text.push('$');
                after
            }
        };
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// The name that the text right after a `$` starts, and the text after the reference.
fn reference(after: &str) -> Option<(&str, &str)> {
    if let Some(braced) = after.strip_prefix('{') {
        let end = braced.find('}')?;
        return Some((&braced[..end], &braced[end + 1..]));
    }
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    (end > 0).then(|| (&after[..end], &after[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(template: &str) -> Vec<Piece<String>> {
        compile(template, "<empty>", str::to_owned)
    }

    #[test]
    fn plain_and_braced_references_split_out_of_the_text() {
        assert_eq!(
            names("a-$x-${y}z"),
            [
                Piece::Text("a-".into()),
                Piece::Var("x".into()),
                Piece::Text("-".into()),
                Piece::Var("y".into()),
                Piece::Text("z".into()),
            ]
        );
    }

    #[test]
    fn a_dollar_that_starts_no_reference_is_text() {
        assert_eq!(names("$ ${x"), [Piece::Text("$ ${x".into())]);
        assert_eq!(names("a${}b"), [Piece::Text("a<empty>b".into())]);
    }
}
