//! [`AdminClient`]: the Admin API (`/apisix/admin/...`, APISIX v3 envelopes) with the
//! `X-API-KEY` header on every request.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::{decode, endpoint, join, send, ClientError, ClientTls};
use crate::envelope::{Deleted, Item, List};
use crate::ResourceKind;

/// Whether a PUT created the key (201) or replaced it (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
}

/// The answer to a PUT.
#[derive(Debug, Clone, PartialEq)]
pub struct PutResult {
    pub outcome: PutOutcome,
    /// `{"key","value"}` as returned (no indexes on PUT).
    pub item: Item,
}

/// A client of the Admin API at `base_url` (e.g. `http://127.0.0.1:9180`).
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: url::Url,
    api_key: Option<String>,
}

impl AdminClient {
    /// A client for `base_url`; `api_key` is sent as `X-API-KEY`; `timeout` bounds each request.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::with_tls(base_url, api_key, timeout, &ClientTls::default())
    }

    /// [`AdminClient::new`] with `tls` for `https://` URLs.
    pub fn with_tls(
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, ClientError> {
        let (base, http) = endpoint(base_url, timeout, tls)?;
        Ok(AdminClient {
            http,
            base,
            api_key,
        })
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> url::Url {
        let mut all = vec!["apisix", "admin"];
        all.extend_from_slice(segments);
        join(&self.base, &all)
    }

    async fn call(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let mut req = self.http.request(method, url.clone());
        if let Some(key) = &self.api_key {
            req = req.header("X-API-KEY", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        send(req, &url).await
    }

    /// [`AdminClient::call`] with the answer decoded as `T`.
    async fn call_for<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let (_, answer) = self.call(method, url.clone(), body).await?;
        decode(&url, answer)
    }

    /// `GET /apisix/admin/<kind>`: every object of `kind`.
    pub async fn list(&self, kind: ResourceKind) -> Result<List, ClientError> {
        let url = self.url(&[kind.dir()]);
        let (_, body) = self.call(Method::GET, url.clone(), None).await?;
        list_from(&url, body)
    }

    /// `GET /apisix/admin/<kind>/<id>`.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Item, ClientError> {
        self.call_for(Method::GET, self.url(&[kind.dir(), id]), None)
            .await
    }

    /// Like [`AdminClient::get`], with a missing object as `None`.
    pub async fn get_opt(&self, kind: ResourceKind, id: &str) -> Result<Option<Item>, ClientError> {
        match self.get(kind, id).await {
            Ok(item) => Ok(Some(item)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /apisix/admin/<kind>/<id>`: create (201) or replace (200).
    pub async fn put(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
    ) -> Result<PutResult, ClientError> {
        let url = self.url(&[kind.dir(), id]);
        let (status, resp) = self.call(Method::PUT, url.clone(), Some(body)).await?;
        let outcome = if status == 201 {
            PutOutcome::Created
        } else {
            PutOutcome::Replaced
        };
        Ok(PutResult {
            outcome,
            item: decode(&url, resp)?,
        })
    }

    /// `POST /apisix/admin/<kind>`: create with a server-generated id.
    pub async fn post(&self, kind: ResourceKind, body: &Value) -> Result<Item, ClientError> {
        self.call_for(Method::POST, self.url(&[kind.dir()]), Some(body))
            .await
    }

    /// `PATCH /apisix/admin/<kind>/<id>`: merge `body` into the stored object.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
    ) -> Result<Item, ClientError> {
        self.call_for(Method::PATCH, self.url(&[kind.dir(), id]), Some(body))
            .await
    }

    /// `DELETE /apisix/admin/<kind>/<id>[?force=true]`.
    pub async fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        force: bool,
    ) -> Result<Deleted, ClientError> {
        let mut url = self.url(&[kind.dir(), id]);
        if force {
            url.query_pairs_mut().append_pair("force", "true");
        }
        self.call_for(Method::DELETE, url, None).await
    }

    /// `GET /apisix/admin/plugins/list?subsystem=stream`: the enabled stream plugins.
    pub async fn plugins_list(&self) -> Result<Vec<String>, ClientError> {
        let mut url = self.url(&["plugins", "list"]);
        url.query_pairs_mut().append_pair("subsystem", "stream");
        self.call_for(Method::GET, url, None).await
    }

    /// `GET /apisix/admin/plugins/<name>?subsystem=stream`: a stream plugin's schema.
    pub async fn plugin_schema(&self, name: &str) -> Result<Value, ClientError> {
        let mut url = self.url(&["plugins", name]);
        url.query_pairs_mut().append_pair("subsystem", "stream");
        Ok(self.call(Method::GET, url, None).await?.1)
    }

    /// `POST /apisix/admin/schema/validate/stream_routes`: `Ok` when the schema accepts `body`.
    pub async fn validate_stream_route(&self, body: &Value) -> Result<(), ClientError> {
        let url = self.url(&["schema", "validate", "stream_routes"]);
        self.call(Method::POST, url, Some(body)).await.map(|_| ())
    }

    /// `HEAD /apisix/admin` (no key check): the round-trip time when the server answers.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let url = join(&self.base, &["apisix", "admin"]);
        let start = Instant::now();
        send(self.http.head(url.clone()), &url).await?;
        Ok(start.elapsed())
    }
}

/// Reads a list body leniently: `{"list":[...],"total":N}`, and also `{"list":{}}` (an empty
/// Lua table) or a body without `list`.
fn list_from(url: &url::Url, body: Value) -> Result<List, ClientError> {
    let items = match body.get("list") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(map)) if map.is_empty() => Vec::new(),
        None if body.is_null() || body.as_object().is_some_and(|m| m.is_empty()) => Vec::new(),
        _ => {
            return Err(ClientError::Decode {
                url: url.to_string(),
                reason: "expected {\"list\":[...],\"total\":N}".to_owned(),
            })
        }
    };
    let list: Vec<Item> = decode(url, Value::Array(items))?;
    let total = body
        .get("total")
        .and_then(Value::as_u64)
        .map_or(list.len(), |t| usize::try_from(t).unwrap_or(usize::MAX));
    Ok(List { list, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url() -> url::Url {
        url::Url::parse("http://x/apisix/admin/upstreams").expect("valid")
    }

    #[test]
    fn list_accepts_empty_lua_table() {
        let list = list_from(&url(), json!({"list":{},"total":0})).expect("lenient");
        assert!(list.list.is_empty());
        assert_eq!(list.total, 0);
    }

    #[test]
    fn list_reads_items_with_indexes() {
        let body = json!({"list":[{"key":"/apisix/upstreams/1","value":{"id":"1"},"createdIndex":3,"modifiedIndex":4}],"total":1});
        let list = list_from(&url(), body).expect("valid");
        assert_eq!(list.list[0].modified_index, Some(4));
        assert_eq!(list.total, 1);
    }

    #[test]
    fn list_rejects_other_shapes() {
        assert!(list_from(&url(), json!({"list":"nope"})).is_err());
    }
}
