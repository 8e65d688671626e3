//! APISIX's HTTP-only resources (`routes`, `consumers`, `consumer_groups`, `plugin_configs`,
//! `global_rules`, `protos`, `secrets`, `credentials`; [`model::resource::HTTP_ONLY_RESOURCES`])
//! as an empty, read-only store, so that ADC and other APISIX tools that read them work:
//!
//! - `GET /apisix/admin/<resource>` → 200 `{"list":[],"total":0}` (a bad `page_size` still
//!   gets APISIX's 400);
//! - `GET /apisix/admin/<resource>/<id>[/...]` → 404 `{"message":"Key not found"}`, as APISIX
//!   answers for a key that is not there (also `consumers/<name>/credentials`: the consumer
//!   does not exist);
//! - any write → 400 [`model::resource::http_only_refusal`]. Nothing is ever stored.

use hyper::{Method, StatusCode};
use model::envelope::List;

use crate::admin::listing::ListQuery;
use crate::admin::request::QueryArgs;
use crate::admin::response::Reply;

/// The answer to `method` on HTTP-only resource `name` (object `id` when present).
pub(crate) fn answer(method: &Method, name: &str, id: Option<&str>, args: &QueryArgs) -> Reply {
    if method != Method::GET {
        tracing::info!(resource = name, %method, "admin: refused a write of an http-only resource");
        return Reply::bad_request(model::resource::http_only_refusal(name));
    }
    if id.is_some() {
        return Reply::key_not_found();
    }
    if let Err(reply) = ListQuery::from_args(args) {
        return reply;
    }
    Reply::json(
        StatusCode::OK,
        &List {
            list: Vec::new(),
            total: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(reply: &Reply) -> &str {
        std::str::from_utf8(&reply.body).expect("json replies are utf-8")
    }

    #[test]
    fn list_is_empty_one_is_not_found_and_writes_are_refused() {
        let none = QueryArgs::default();
        let list = answer(&Method::GET, "routes", None, &none);
        assert_eq!(
            (list.status, body(&list)),
            (StatusCode::OK, "{\"list\":[],\"total\":0}\n")
        );
        let one = answer(&Method::GET, "consumers", Some("jack"), &none);
        assert_eq!(
            (one.status, body(&one)),
            (StatusCode::NOT_FOUND, "{\"message\":\"Key not found\"}\n")
        );
        for method in [Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
            let write = answer(&method, "global_rules", Some("1"), &none);
            assert_eq!(
                (write.status, body(&write)),
                (
                    StatusCode::BAD_REQUEST,
                    "{\"error_msg\":\"this gateway proxies L4 (TCP/UDP) only and does not store global_rules\"}\n"
                ),
                "{method}"
            );
        }
    }

    #[test]
    fn a_page_size_out_of_range_is_refused_as_for_stored_kinds() {
        let args = QueryArgs::parse(Some("page=1&page_size=5"));
        assert_eq!(
            answer(&Method::GET, "routes", None, &args).status,
            StatusCode::BAD_REQUEST
        );
    }
}
