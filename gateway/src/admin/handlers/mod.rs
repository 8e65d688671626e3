//! The method handlers of `/apisix/admin/<resource>` (one module per method) and what they
//! share: the parsed [`Call`], the validation context built from the store (references of the
//! body), the `ttl` lease, and APISIX's `create_time`/`update_time` stamping.
//!
//! Handlers never write the store before validation passed, so every 4xx leaves it untouched.

pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod http_only;
pub(crate) mod patch;
pub(crate) mod plugins;
pub(crate) mod write;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::validate::{self, CheckContext};
use model::ResourceKind;
use serde_json::{json, Value};

use super::request::QueryArgs;
use super::response::Reply;
use super::AdminContext;

/// One parsed `/apisix/admin/<resource>[/<id>[/<sub_path>]]` request that passed the common
/// checks.
pub(crate) struct Call<'a> {
    pub ctx: &'a AdminContext,
    pub kind: ResourceKind,
    pub id: Option<String>,
    /// Segments after the id joined by `/` (`""` when none).
    pub sub_path: String,
    /// The JSON body (`None`: empty body).
    pub body: Option<Value>,
    pub args: QueryArgs,
    /// `?ttl=` in seconds, already checked to be a number.
    pub ttl: Option<f64>,
}

impl Call<'_> {
    /// The store key of `id` in this call's collection.
    pub fn key(&self, id: &str) -> String {
        self.ctx.object_key(self.kind, id)
    }

    /// `missing <kind> id` (400).
    pub fn missing_id(&self) -> Reply {
        Reply::bad_request(format!("missing {} id", self.kind.singular()))
    }

    /// The lease for `?ttl=` (0: none). Called only after validation passed.
    pub async fn lease(&self) -> Result<i64, Reply> {
        match self.ttl {
            None => Ok(0),
            Some(ttl) => {
                // A lease shorter than a second is rounded up; etcd has a minimum TTL too.
                let ttl = Duration::from_secs_f64(ttl.max(1.0));
                Ok(self.ctx.store.grant_lease(ttl).await?)
            }
        }
    }

    /// The validation context for `body`: config lists plus the referenced objects that exist.
    pub async fn check_context(&self, body: Option<&Value>) -> Result<CheckContext, Reply> {
        let config = &self.ctx.config;
        let mut check = CheckContext {
            stream_plugins: config.stream.plugins.clone(),
            xrpc_protocols: config.stream.xrpc_protocols.clone(),
            ..CheckContext::default()
        };
        let Some(body) = body else {
            return Ok(check);
        };
        for (kind, id) in validate::references_of(self.kind, body) {
            let key = self.ctx.object_key(kind, &id);
            if let Some(found) = self.ctx.store.get(&key).await? {
                if found.value.is_object() {
                    check.refs.insert((kind, id), found.value);
                }
            }
        }
        Ok(check)
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// APISIX's `inject_timestamp`: `create_time` from the body, else from the previous version,
/// else now; `update_time` from the body unless `force_update`, else now.
pub(crate) fn stamp_times(value: &mut Value, previous: Option<&Value>, force_update: bool) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let now = unix_now();
    if object.get("create_time").is_none_or(Value::is_null) {
        let created = previous
            .and_then(|prev| prev.get("create_time"))
            .filter(|time| !time.is_null())
            .cloned()
            .unwrap_or_else(|| json!(now));
        object.insert("create_time".to_owned(), created);
    }
    if force_update || object.get("update_time").is_none_or(Value::is_null) {
        object.insert("update_time".to_owned(), json!(now));
    }
}

/// `{"key": key, "value": value}` (PUT/POST/PATCH replies).
pub(crate) fn key_value_body(key: &str, value: &Value) -> Value {
    json!({ "key": key, "value": value })
}

/// The id of a stored object: its `id` field, else the last segment of its key.
pub(crate) fn stored_id(key: &str, value: &Value) -> String {
    value
        .get("id")
        .and_then(model::types::id_string)
        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_create_time_and_refreshes_update_time() {
        let previous = json!({"create_time": 100, "update_time": 100});
        let mut value = json!({"id": "1"});
        stamp_times(&mut value, Some(&previous), false);
        assert_eq!(value["create_time"], 100);
        assert!(value["update_time"].as_i64().expect("number") > 100);
    }

    #[test]
    fn stored_id_falls_back_to_the_key() {
        assert_eq!(stored_id("/apisix/upstreams/7", &json!({})), "7");
        assert_eq!(stored_id("/apisix/upstreams/7", &json!({"id": 8})), "8");
    }
}
