//! `PUT /apisix/admin/<resource>[/<id>]` (create 201 / replace 200) and
//! `POST /apisix/admin/<resource>` (201 with a 20-digit generated id).
//!
//! Flow: fetch the body's references → `model::validate::check_write` → stamp
//! `create_time`/`update_time` → encrypt private keys ([`private_keys`]) → lease for `?ttl=` →
//! one store write.

use hyper::StatusCode;
use model::validate::{self, WriteMethod};
use model::ResourceKind;
use serde_json::Value;

use super::{key_value_body, stamp_times, Call};
use crate::admin::private_keys;
use crate::admin::response::{HandlerResult, Reply};

/// PUT: create or replace.
pub(crate) async fn put(call: &Call<'_>) -> HandlerResult {
    let (checked_id, mut value) = checked_body(call, WriteMethod::Put).await?;
    let body_id = value.get("id").and_then(model::types::id_string);
    let Some(id) = checked_id.or_else(|| call.id.clone()).or(body_id) else {
        return Err(missing_put_id(call));
    };
    if let Some(object) = value.as_object_mut() {
        // APISIX: `conf.id = id` — the path id (a string) wins, else the body's own id as is.
        if call.id.is_some() || call.kind == ResourceKind::PluginMetadata {
            object.insert("id".to_owned(), Value::String(id.clone()));
        }
    }

    encrypt_private_keys(call, &mut value);
    let key = call.key(&id);
    if call.kind != ResourceKind::PluginMetadata {
        let previous = call.ctx.store.get(&key).await?;
        stamp_times(&mut value, previous.as_ref().map(|prev| &prev.value), false);
    }
    let lease = call.lease().await?;
    let outcome = call.ctx.store.put(&key, &value, lease).await?;
    let status = if outcome.previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(Reply::json(
        status,
        &key_value_body(&key, &outcome.current.value),
    ))
}

/// POST: create with a generated id.
pub(crate) async fn post(call: &Call<'_>) -> HandlerResult {
    if call.kind == ResourceKind::PluginMetadata {
        return Err(not_supported(call.kind, "POST"));
    }
    let (_, mut value) = checked_body(call, WriteMethod::Post).await?;
    let lease = call.lease().await?;
    let number = call.ctx.store.next_id(&call.ctx.key_prefix).await?;
    let id = format!("{number:020}");
    if let Some(object) = value.as_object_mut() {
        object.insert("id".to_owned(), Value::String(id.clone()));
    }
    stamp_times(&mut value, None, false);
    encrypt_private_keys(call, &mut value);
    let key = call.key(&id);
    let outcome = call.ctx.store.put(&key, &value, lease).await?;
    Ok(Reply::json(
        StatusCode::CREATED,
        &key_value_body(&key, &outcome.current.value),
    ))
}

/// The request body once `model::validate::check_write` passed for `method`, with the id the
/// check settled on (PUT). Any already-encrypted private key is decrypted first, as APISIX's
/// `ssl.validate` does before it checks the key: a key copied from another store validates.
async fn checked_body(
    call: &Call<'_>,
    method: WriteMethod,
) -> Result<(Option<String>, Value), Reply> {
    let keyring = &call.ctx.config.ssl.keyring;
    let body = call.body.clone().map(|mut body| {
        private_keys::decrypt(call.kind, &mut body, keyring);
        body
    });
    let check = call.check_context(body.as_ref()).await?;
    let checked_id =
        validate::check_write(call.kind, method, call.id.as_deref(), body.as_ref(), &check)?;
    let Some(value) = body else {
        return Err(Reply::bad_request("missing configurations"));
    };
    Ok((checked_id, value))
}

/// Encrypts the private keys of `value` before it is stored (`data_encryption` keyring).
fn encrypt_private_keys(call: &Call<'_>, value: &mut Value) {
    private_keys::encrypt(call.kind, value, &call.ctx.config.ssl.keyring);
}

/// 405 `not supported `<METHOD>` method for <kind>`.
pub(crate) fn not_supported(kind: ResourceKind, method: &str) -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("not supported `{method}` method for {}", kind.singular()),
    )
}

/// The id-less PUT; model normally rejects it first with the same text.
fn missing_put_id(call: &Call<'_>) -> Reply {
    if call.kind == ResourceKind::PluginMetadata {
        Reply::bad_request("missing plugin name")
    } else {
        call.missing_id()
    }
}
