//! List query parameters of `GET /apisix/admin/<resource>` (REFERENCE.md §2.4): `name=` (regex
//! on `value.name`), `label=` (label key present), `filter=` (url-encoded `k=v&...`, only
//! `service_id`/`upstream_id` on stream routes), then paging with `page`/`page_size` (both
//! needed; sorted by `createdIndex`). `total` counts after filtering, before paging.

use std::collections::BTreeMap;

use hyper::StatusCode;
use model::ResourceKind;
use regex::Regex;
use serde_json::Value;

use super::request::QueryArgs;
use super::response::Reply;
use crate::store::KeyValue;

/// The smallest and largest `page_size`.
const PAGE_SIZE_RANGE: std::ops::RangeInclusive<f64> = 10.0..=500.0;

/// The parsed list parameters.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    /// `(page, page_size)`, page counted from 1.
    paging: Option<(usize, usize)>,
    /// `name=`: `Err` keeps an invalid pattern, which matches nothing (as in APISIX).
    name: Option<Result<Regex, String>>,
    label: Option<String>,
    /// `filter=`, the last value of each key.
    filter: BTreeMap<String, String>,
}

impl ListQuery {
    /// Reads the parameters; 400 (plain text) when `page_size` is out of range.
    pub fn from_args(args: &QueryArgs) -> Result<Self, Reply> {
        let number = |name: &str| args.get(name).and_then(|v| v.trim().parse::<f64>().ok());
        let paging = match (number("page"), number("page_size")) {
            (Some(page), Some(size)) if size.is_finite() && !page.is_nan() => {
                if !PAGE_SIZE_RANGE.contains(&size) {
                    return Err(Reply::plain(
                        StatusCode::BAD_REQUEST,
                        "page_size must be between 10 and 500",
                    ));
                }
                // Saturating float → integer casts; page < 1 means page 1.
                let page = page.floor().max(1.0) as usize;
                Some((page, size.floor() as usize))
            }
            _ => None,
        };
        let name = args.get("name").map(|pattern| {
            Regex::new(pattern).map_err(|err| {
                tracing::warn!(pattern, error = %err, "admin: invalid name filter, nothing matches");
                pattern.to_owned()
            })
        });
        let label = args
            .get("label")
            .filter(|label| !label.is_empty())
            .map(str::to_owned);
        let filter = args
            .get("filter")
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(ListQuery {
            paging,
            name,
            label,
            filter,
        })
    }

    fn keeps(&self, kind: ResourceKind, value: &Value) -> bool {
        let name_ok = match &self.name {
            None => true,
            Some(Err(_)) => false,
            Some(Ok(re)) => value
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| re.is_match(name)),
        };
        let label_ok = self.label.as_ref().is_none_or(|label| {
            value
                .get("labels")
                .and_then(Value::as_object)
                .is_some_and(|labels| labels.contains_key(label))
        });
        name_ok && label_ok && self.filter_keeps(kind, value)
    }

    fn filter_keeps(&self, kind: ResourceKind, value: &Value) -> bool {
        self.filter.iter().all(|(field, wanted)| {
            if !filter_fields(kind).contains(&field.as_str()) {
                tracing::warn!(
                    field,
                    resource = kind.dir(),
                    "admin: filter field is not supported by resource"
                );
                return true;
            }
            value
                .get(field)
                .and_then(model::types::id_string)
                .is_some_and(|actual| actual == *wanted)
        })
    }
}

/// The fields `filter=` may name for `kind`.
fn filter_fields(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::StreamRoutes => &["service_id", "upstream_id"],
        _ => &[],
    }
}

/// Filters `items`, counts them, then applies paging. Returns the page and the total.
pub(crate) fn select(
    kind: ResourceKind,
    items: Vec<KeyValue>,
    query: &ListQuery,
) -> (Vec<KeyValue>, usize) {
    let mut kept: Vec<KeyValue> = items
        .into_iter()
        .filter(|item| query.keeps(kind, &item.value))
        .collect();
    let total = kept.len();
    if let Some((page, size)) = query.paging {
        kept.sort_by_key(|item| item.create_revision);
        let from = (page - 1).saturating_mul(size);
        kept = kept.into_iter().skip(from).take(size).collect();
    }
    (kept, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: i64, value: Value) -> KeyValue {
        KeyValue {
            key: format!("/apisix/stream_routes/{id}"),
            value,
            create_revision: 100 - id,
            mod_revision: 100 - id,
            lease: 0,
        }
    }

    fn query(raw: &str) -> ListQuery {
        ListQuery::from_args(&QueryArgs::parse(Some(raw))).expect("valid query")
    }

    #[test]
    fn paging_needs_both_parameters() {
        assert!(query("page=2").paging.is_none());
        assert_eq!(query("page=0&page_size=10").paging, Some((1, 10)));
    }

    #[test]
    fn page_size_out_of_range_is_a_plain_400() {
        let reply = ListQuery::from_args(&QueryArgs::parse(Some("page=1&page_size=9")))
            .expect_err("out of range");
        assert_eq!(&reply.body[..], b"page_size must be between 10 and 500");
    }

    #[test]
    fn paging_sorts_by_created_index_and_total_counts_before_paging() {
        let items: Vec<KeyValue> = (1..=15).map(|i| item(i, json!({}))).collect();
        let (page, total) = select(
            ResourceKind::StreamRoutes,
            items,
            &query("page=2&page_size=10"),
        );
        assert_eq!(total, 15);
        assert_eq!(page.len(), 5);
        // create_revision = 100 - id: the oldest are the highest ids.
        assert_eq!(page[0].key, "/apisix/stream_routes/5");
    }

    #[test]
    fn filter_compares_numeric_ids_as_strings_and_ignores_unknown_fields() {
        let items = vec![
            item(1, json!({"upstream_id": 1})),
            item(2, json!({"upstream_id": "2"})),
        ];
        let (page, total) = select(
            ResourceKind::StreamRoutes,
            items,
            &query("filter=upstream_id%3D1%26foo%3Dbar"),
        );
        assert_eq!(total, 1);
        assert_eq!(page[0].key, "/apisix/stream_routes/1");
    }

    #[test]
    fn objects_without_a_name_are_dropped_by_a_name_filter() {
        let items = vec![item(1, json!({"name": "mqtt-a"})), item(2, json!({}))];
        let (_, total) = select(ResourceKind::Upstreams, items, &query("name=^mqtt"));
        assert_eq!(total, 1);
    }
}
