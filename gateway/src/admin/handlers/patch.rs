//! `PATCH /apisix/admin/<resource>/<id>[/<sub_path>]` (upstreams, services, ssls): merge the
//! body into the stored object (or replace the sub-tree at the sub-path), re-validate the
//! result as a whole, then write it with a compare-and-swap on the revision it was read at.
//! Stored private keys are decrypted before the merge and encrypted again before the write.

use hyper::StatusCode;
use model::validate::{self, WriteMethod};
use serde_json::Value;

use super::write::not_supported;
use super::{key_value_body, stamp_times, Call};
use crate::admin::private_keys;
use crate::admin::response::{HandlerResult, Reply};

/// PATCH one object.
pub(crate) async fn patch(call: &Call<'_>) -> HandlerResult {
    if !call.kind.supports_patch() {
        return Err(not_supported(call.kind, "PATCH"));
    }
    let Some(id) = call.id.as_deref() else {
        return Err(call.missing_id());
    };
    let Some(body) = call.body.as_ref() else {
        return Err(Reply::bad_request("missing new configuration"));
    };
    let sub_path = call.sub_path.as_str();
    if sub_path.is_empty() && !body.is_object() {
        return Err(Reply::bad_request("invalid configuration"));
    }

    let key = call.key(id);
    let Some(stored) = call.ctx.store.get(&key).await? else {
        return Err(Reply::key_not_found());
    };
    let keyring = &call.ctx.config.ssl.keyring;
    let mut value = stored.value.clone();
    private_keys::decrypt(call.kind, &mut value, keyring);
    if sub_path.is_empty() {
        model::validate::merge_patch(&mut value, body);
        let body_sets_update_time = body.get("update_time").is_some_and(|t| !t.is_null());
        stamp_times(&mut value, None, !body_sets_update_time);
    } else {
        model::validate::set_sub_path(&mut value, sub_path, body.clone())
            .map_err(|err| Reply::bad_request(err.message))?;
        stamp_times(&mut value, None, true);
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("id".to_owned(), Value::String(id.to_owned()));
    }

    let check = call.check_context(Some(&value)).await?;
    validate::check_write(
        call.kind,
        WriteMethod::Patch,
        Some(id),
        Some(&value),
        &check,
    )?;
    private_keys::encrypt(call.kind, &mut value, keyring);

    // Without `?ttl=` the key stays on the lease it had.
    let lease = match call.ttl {
        Some(_) => call.lease().await?,
        None => stored.lease,
    };
    let outcome = call
        .ctx
        .store
        .cas(&key, stored.mod_revision, &value, lease)
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        &key_value_body(&key, &outcome.current.value),
    ))
}
