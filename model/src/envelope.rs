//! Admin API response bodies (APISIX v3): `{"key","value"}`, the GET form with
//! `createdIndex`/`modifiedIndex`, lists `{"list":[...],"total":N}`, deletions
//! `{"deleted":"1","key":...}` and `{"message":"Key not found"}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored object as the Admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    pub value: Value,
    #[serde(
        rename = "createdIndex",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub created_index: Option<i64>,
    #[serde(
        rename = "modifiedIndex",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub modified_index: Option<i64>,
}

/// `GET /apisix/admin/<resource>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List {
    pub list: Vec<Item>,
    pub total: usize,
}

/// `DELETE /apisix/admin/<resource>/<id>`: `deleted` is a string, as in APISIX.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: String,
    pub key: String,
}

/// An error body: `{"error_msg": ...}` (plus `description` on 401s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_msg: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// `{"message":"Key not found"}` for a missing id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotFound {
    pub message: String,
}

impl Item {
    /// A PUT/POST/PATCH response body: `key` and `value`, no indexes.
    pub fn new(key: impl Into<String>, value: Value) -> Self {
        Item {
            key: key.into(),
            value,
            created_index: None,
            modified_index: None,
        }
    }
}

impl List {
    /// A list of items; `total` is their count.
    pub fn new(list: Vec<Item>) -> Self {
        let total = list.len();
        List { list, total }
    }
}

impl Deleted {
    /// `{"deleted":"1","key":...}`.
    pub fn new(key: impl Into<String>) -> Self {
        Deleted {
            deleted: "1".to_owned(),
            key: key.into(),
        }
    }
}

impl ErrorBody {
    /// `{"error_msg": ...}`.
    pub fn new(error_msg: impl Into<String>) -> Self {
        ErrorBody {
            error_msg: error_msg.into(),
            description: None,
        }
    }
}

impl From<crate::ValidationError> for ErrorBody {
    fn from(err: crate::ValidationError) -> Self {
        ErrorBody::new(err.message)
    }
}

impl NotFound {
    /// `{"message":"Key not found"}`.
    pub fn key_not_found() -> Self {
        NotFound {
            message: "Key not found".to_owned(),
        }
    }
}

/// The `key` APISIX shows for an object: `<prefix>/<dir>/<id>` (`/apisix/stream_routes/1`).
pub fn item_key(prefix: &str, kind: crate::ResourceKind, id: &str) -> String {
    format!("{}/{}/{id}", prefix.trim_end_matches('/'), kind.dir())
}

/// A POST id: the revision zero-padded to 20 digits (`00000000000000000123`).
pub fn post_id(revision: u64) -> String {
    format!("{revision:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_post_ids_look_like_apisix() {
        assert_eq!(
            item_key("/apisix", crate::ResourceKind::StreamRoutes, "1"),
            "/apisix/stream_routes/1"
        );
        assert_eq!(post_id(123), "00000000000000000123");
        let body =
            serde_json::to_string(&Deleted::new("/apisix/upstreams/1")).expect("serializable");
        assert_eq!(body, r#"{"deleted":"1","key":"/apisix/upstreams/1"}"#);
        let put = serde_json::to_string(&Item::new("/apisix/upstreams/1", serde_json::json!({})))
            .expect("serializable");
        assert_eq!(put, r#"{"key":"/apisix/upstreams/1","value":{}}"#);
    }
}
