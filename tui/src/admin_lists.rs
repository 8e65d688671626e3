//! Serde views of the Admin API lists the dashboard reads (stream routes kept whole for the
//! editor, upstreams with their nodes). The Control API's answers are `model::control`'s
//! types, as the gateway writes them; ids may arrive as strings or numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(model::types::id_string))
}

/// A stream route as stored in the Admin API: its id and raw value (kept whole so the
/// editor can preserve fields it has no form for).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRoute {
    /// Id (last segment of the key).
    pub id: String,
    /// The stored JSON.
    pub value: Value,
}

/// An upstream as stored in the Admin API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AdminUpstream {
    /// Upstream id.
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    /// Optional name.
    pub name: Option<String>,
    /// Balancer type.
    #[serde(rename = "type")]
    pub balancer: Option<String>,
    /// Nodes in either APISIX form.
    pub nodes: model::types::Nodes,
}

/// The id of an Admin API key (`/apisix/stream_routes/1` → `1`).
pub fn id_from_key(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_owned()
}

/// The routes of an Admin API list answer.
pub fn admin_routes(list: model::envelope::List) -> Vec<AdminRoute> {
    list.list
        .into_iter()
        .map(|item| AdminRoute {
            id: id_from_key(&item.key),
            value: item.value,
        })
        .collect()
}

/// The upstreams of an Admin API list answer; a value that does not parse keeps its id.
pub fn admin_upstreams(list: model::envelope::List) -> Vec<AdminUpstream> {
    list.list
        .into_iter()
        .map(|item| {
            let mut up: AdminUpstream = serde_json::from_value(item.value).unwrap_or_default();
            up.id.get_or_insert_with(|| id_from_key(&item.key));
            up
        })
        .collect()
}
