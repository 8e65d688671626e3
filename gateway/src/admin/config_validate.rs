//! `POST /apisix/admin/configs/validate` (APISIX `admin/config_validate.lua`), served in both
//! modes: the normal one (store-backed, [`super::dispatch`]) and API-driven standalone
//! ([`super::standalone`]). The body is a whole configuration document, JSON or YAML
//! (`Content-Type: application/yaml`), as `PUT /apisix/admin/configs` takes it. Every item is
//! checked ([`checks`]) and nothing changes:
//!
//! - valid → 200 `{}`;
//! - invalid → 400 `{"error_msg":"Configuration validation failed","errors":[{"resource_type",
//!   "resource_id","index","error"}...]}` listing every problem;
//! - no body → 400 `invalid request body: empty request body`; a body that does not parse →
//!   400 `invalid request body: <err>`.
//!
//! Items of APISIX's HTTP-only types (`routes`, `consumers`, ...) are refused in the normal
//! mode (this gateway would not store them) and kept as they are in standalone mode.

pub(super) mod checks;

use hyper::body::Incoming;
use hyper::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use self::checks::{validate_configuration, HttpOnlyItems, Problems, Purpose};
use super::request;
use super::response::Reply;
use super::AdminContext;

/// The media type of YAML bodies.
pub(super) const YAML: &str = "application/yaml";

/// Answers `POST /apisix/admin/configs/validate` (after the key check).
pub(super) async fn answer(
    ctx: &AdminContext,
    headers: &HeaderMap,
    body: Incoming,
    http_only: HttpOnlyItems,
) -> Reply {
    let doc = match read_document(body, content_type(headers)).await {
        Ok(doc) => doc,
        Err(reply) => return reply,
    };
    let check = ctx.config.check_context();
    let errors = match validate_configuration(&doc, &check, http_only, Purpose::Validate) {
        Ok(()) => return Reply::json(StatusCode::OK, &json!({})),
        Err(Problems::All(errors)) => errors,
        Err(Problems::First(error)) => vec![json!({ "error": error })],
    };
    Reply::json(
        StatusCode::BAD_REQUEST,
        &json!({"error_msg": "Configuration validation failed", "errors": errors}),
    )
}

/// The request's `Content-Type` (`""` when absent or not text).
pub(super) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Reads and parses a configuration body: YAML when the Content-Type says so, else JSON.
pub(super) async fn read_document(
    body: Incoming,
    content_type: &str,
) -> Result<Map<String, Value>, Reply> {
    let raw = request::read_body(body).await?;
    if raw.is_empty() {
        return Err(Reply::bad_request(
            "invalid request body: empty request body",
        ));
    }
    parse_document(&raw, content_type)
        .map_err(|err| Reply::bad_request(format!("invalid request body: {err}")))
}

/// The document in `raw`; `Err` is the text after `invalid request body: `.
fn parse_document(raw: &[u8], content_type: &str) -> Result<Map<String, Value>, String> {
    let value = if content_type.starts_with(YAML) {
        serde_norway::from_slice::<serde_norway::Value>(raw)
            .ok()
            .and_then(|yaml| serde_json::to_value(yaml).ok())
            .filter(Value::is_object)
            .ok_or_else(|| "invalid yaml request body".to_owned())?
    } else {
        serde_json::from_slice::<Value>(raw).map_err(|e| e.to_string())?
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("the configuration must be an object".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_bodies_parse_and_bad_ones_name_the_problem() {
        let yaml = parse_document(
            b"upstreams:\n  - id: 1\n",
            "application/yaml; charset=utf-8",
        )
        .expect("yaml");
        assert_eq!(yaml["upstreams"][0]["id"], 1);
        let json = parse_document(br#"{"upstreams":[]}"#, "application/json").expect("json");
        assert!(json["upstreams"].is_array());
        assert_eq!(
            parse_document(b"- 1\n", YAML),
            Err("invalid yaml request body".to_owned())
        );
        assert!(parse_document(b"{", "").is_err_and(|e| e.contains("EOF")));
    }
}
