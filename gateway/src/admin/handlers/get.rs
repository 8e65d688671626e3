//! `GET /apisix/admin/<resource>[/<id>]`: one object with `createdIndex`/`modifiedIndex`, or
//! the filtered, paged list (see [`crate::admin::listing`]). SSL private keys are never shown.

use hyper::StatusCode;
use model::envelope::{Item, List};
use model::ResourceKind;
use serde_json::Value;

use super::Call;
use crate::admin::listing::{self, ListQuery};
use crate::admin::response::{HandlerResult, Reply};
use crate::store::KeyValue;

/// GET one (`id` present) or the list.
pub(crate) async fn get(call: &Call<'_>) -> HandlerResult {
    match call.id.as_deref() {
        Some(id) => get_one(call, id).await,
        None => get_list(call).await,
    }
}

async fn get_one(call: &Call<'_>, id: &str) -> HandlerResult {
    let key = call.key(id);
    let Some(found) = call.ctx.store.get(&key).await? else {
        return Err(Reply::key_not_found());
    };
    Ok(Reply::json(StatusCode::OK, &to_item(call.kind, found)))
}

async fn get_list(call: &Call<'_>) -> HandlerResult {
    let (items, _revision) = call.ctx.store.list(&call.ctx.dir_prefix(call.kind)).await?;
    let query = ListQuery::from_args(&call.args)?;
    let items: Vec<KeyValue> = items
        .into_iter()
        // The `init_dir` placeholder and anything else that is not an object is hidden.
        .filter(|item| item.value.is_object())
        .collect();
    let (page, total) = listing::select(call.kind, items, &query);
    let list = List {
        list: page
            .into_iter()
            .map(|item| to_item(call.kind, item))
            .collect(),
        total,
    };
    Ok(Reply::json(StatusCode::OK, &list))
}

/// The Admin API view of a stored key.
fn to_item(kind: ResourceKind, found: KeyValue) -> Item {
    let mut value = found.value;
    if kind == ResourceKind::Ssls {
        strip_private_keys(&mut value);
    }
    Item {
        key: found.key,
        value,
        created_index: Some(found.create_revision),
        modified_index: Some(found.mod_revision),
    }
}

/// SSL objects are returned without `key` and `keys`.
fn strip_private_keys(value: &mut Value) {
    if let Some(object) = value.as_object_mut() {
        object.remove("key");
        object.remove("keys");
    }
}
