//! The index of SNI patterns ([`SniPattern`], from `model::route_match`): exact names,
//! `*suffix` wildcards (APISIX indexes the reversed name in a radix tree, so `*.x.com` matches
//! any name ending in `.x.com`, at any depth, but not `x.com`), and `*`. Lookup yields the
//! candidate route lists from the most specific pattern to the least: exact, wildcards by
//! decreasing suffix length, then `*`.

use std::collections::HashMap;

/// Longest name normalized on the stack; DNS names are at most 253 bytes.
pub(crate) const MAX_NAME: usize = 256;

pub(crate) use model::route_match::SniPattern;

/// Lowercases `sni` and drops trailing dots into `buf`, without allocating. `None` when the
/// name is too long to be a DNS name.
pub(crate) fn normalize<'b>(sni: &str, buf: &'b mut [u8; MAX_NAME]) -> Option<&'b str> {
    let sni = sni.trim_end_matches('.');
    let bytes = sni.as_bytes();
    if bytes.len() > MAX_NAME {
        return None;
    }
    let out = &mut buf[..bytes.len()];
    for (dst, src) in out.iter_mut().zip(bytes) {
        *dst = src.to_ascii_lowercase();
    }
    // ASCII lowercasing keeps UTF-8 valid.
    std::str::from_utf8(&buf[..bytes.len()]).ok()
}

/// Route positions (indexes into the table's entries, ascending = load order) by SNI pattern.
#[derive(Debug, Default)]
pub(crate) struct SniIndex {
    exact: HashMap<String, Vec<u32>>,
    suffix: HashMap<String, Vec<u32>>,
    /// Distinct suffix lengths, longest first.
    suffix_lens: Vec<usize>,
    any: Vec<u32>,
}

impl SniIndex {
    /// Adds route `pos` under `pattern`; positions must be added in ascending order.
    pub(crate) fn insert(&mut self, pattern: &SniPattern, pos: u32) {
        let list = match pattern {
            SniPattern::Exact(name) => self.exact.entry(name.clone()).or_default(),
            SniPattern::Suffix(suffix) => {
                if !self.suffix_lens.contains(&suffix.len()) {
                    self.suffix_lens.push(suffix.len());
                    self.suffix_lens.sort_unstable_by(|a, b| b.cmp(a));
                }
                self.suffix.entry(suffix.clone()).or_default()
            }
            SniPattern::Any => &mut self.any,
        };
        // A route listing the same pattern twice is indexed once.
        if list.last() != Some(&pos) {
            list.push(pos);
        }
    }

    /// Whether no route has an SNI.
    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffix.is_empty() && self.any.is_empty()
    }

    /// Calls `visit` with each candidate list for `name`, most specific first, until it
    /// returns `Some`.
    pub(crate) fn visit<T>(
        &self,
        name: &str,
        mut visit: impl FnMut(&[u32]) -> Option<T>,
    ) -> Option<T> {
        if let Some(list) = self.exact.get(name) {
            if let Some(found) = visit(list) {
                return Some(found);
            }
        }
        for &len in &self.suffix_lens {
            if len > name.len() || !name.is_char_boundary(name.len() - len) {
                continue;
            }
            if let Some(list) = self.suffix.get(&name[name.len() - len..]) {
                if let Some(found) = visit(list) {
                    return Some(found);
                }
            }
        }
        if !self.any.is_empty() {
            return visit(&self.any);
        }
        None
    }
}
