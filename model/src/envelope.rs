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
