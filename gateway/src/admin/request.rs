//! What the Admin API reads from a request: the path split into segments, the query
//! arguments, the `x_api_key` cookie, and the body (size-limited, then parsed as JSON).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::COOKIE;
use hyper::{HeaderMap, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::response::Reply;
use super::MAX_BODY_BYTES;

/// Query arguments in order (`?a=1&b=2`), URL-decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryArgs(Vec<(String, String)>);

impl QueryArgs {
    /// Parses a raw query string (`None`: no `?`).
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        QueryArgs(pairs)
    }

    /// The first value of `name` (nginx's `$arg_<name>`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The path below `/apisix/admin/`, percent-decoded then split on `/` (as nginx's `$uri`
/// is), empty segments dropped. `None` outside `/apisix/admin`.
pub(crate) fn admin_segments(path: &str) -> Option<Vec<String>> {
    let path = percent_decode_str(path).decode_utf8_lossy();
    let rest = if path == "/apisix/admin" {
        ""
    } else {
        path.strip_prefix("/apisix/admin/")?
    };
    Some(
        rest.split('/')
            .filter(|segment| !segment.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The value of the `x_api_key` cookie, if any.
pub(crate) fn api_key_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "x_api_key")
        .map(|(_, value)| value.trim().to_owned())
}

/// Reads the whole body: 413 `request body too large` over [`MAX_BODY_BYTES`].
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )),
        Err(err) => Err(Reply::bad_request(format!("invalid request body: {err}"))),
    }
}

/// Parses a body as JSON: `None` when empty; 400 with the raw text when it is not JSON.
pub(crate) fn parse_body(raw: &[u8]) -> Result<Option<Value>, Reply> {
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw).map(Some).map_err(|err| {
        Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({
                "error_msg": format!("invalid request body: {err}"),
                "req_body": String::from_utf8_lossy(raw),
            }),
        )
    })
}

/// Checks `?ttl=`: a number (APISIX's `tonumber`) or 400. Returns the ttl in seconds.
pub(crate) fn parse_ttl(args: &QueryArgs) -> Result<Option<f64>, Reply> {
    let Some(raw) = args.get("ttl") else {
        return Ok(None);
    };
    match raw.trim().parse::<f64>() {
        Ok(ttl) if ttl.is_finite() => Ok(Some(ttl)),
        _ => Err(Reply::bad_request(
            "invalid argument ttl: should be a number",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_below_admin_are_split_and_decoded() {
        assert_eq!(
            admin_segments("/apisix/admin/upstreams/a%20b/nodes/"),
            Some(vec!["upstreams".into(), "a b".into(), "nodes".into()])
        );
        // An encoded slash separates segments, so an id never contains `/`.
        assert_eq!(
            admin_segments("/apisix/admin/upstreams/a%2Fb"),
            Some(vec!["upstreams".into(), "a".into(), "b".into()])
        );
        assert_eq!(admin_segments("/apisix/admin"), Some(vec![]));
        assert_eq!(admin_segments("/apisix/adminx"), None);
        assert_eq!(admin_segments("/other"), None);
    }

    #[test]
    fn cookie_value_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            "a=b; x_api_key=secret".parse().expect("valid header"),
        );
        assert_eq!(api_key_cookie(&headers).as_deref(), Some("secret"));
    }

    #[test]
    fn ttl_must_be_a_number() {
        assert!(parse_ttl(&QueryArgs::parse(Some("ttl=abc"))).is_err());
        assert_eq!(
            parse_ttl(&QueryArgs::parse(Some("ttl=5"))).ok().flatten(),
            Some(5.0)
        );
    }

    #[test]
    fn empty_body_is_none_and_bad_json_is_rejected() {
        assert_eq!(parse_body(b"").ok(), Some(None));
        let reply = parse_body(b"{bad").expect_err("not json");
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&reply.body).contains("\"req_body\":\"{bad\""));
    }
}
