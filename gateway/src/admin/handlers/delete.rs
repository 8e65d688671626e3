//! `DELETE /apisix/admin/<resource>/<id>[?force=true]` and the reference checks that block it
//! (REFERENCE.md §2.7, plus ours: an upstream still used by a stream route).
//!
//! - stream route: another stream route names it as `protocol.superior_id`;
//! - service: a stream route has `service_id` = it;
//! - upstream: a service, then a stream route, has `upstream_id` = it or names it in
//!   `traffic-split` (`plugin in <resource> [<id>]`).
//!
//! `?force=true` (exactly) skips the checks.

use hyper::StatusCode;
use model::envelope::Deleted;
use model::validate;
use model::ResourceKind;

use super::{stored_id, Call};
use crate::admin::response::{HandlerResult, Reply};

/// DELETE one object.
pub(crate) async fn delete(call: &Call<'_>) -> HandlerResult {
    let Some(id) = call.id.as_deref() else {
        return Err(call.missing_id());
    };
    if call.args.get("force") != Some("true") {
        if let Some(message) = blocking_reference(call, id).await? {
            return Err(Reply::bad_request(message));
        }
    }
    let key = call.key(id);
    match call.ctx.store.delete(&key).await? {
        None => Err(Reply::key_not_found()),
        Some(_) => Ok(Reply::json(
            StatusCode::OK,
            &Deleted {
                deleted: "1".to_owned(),
                key,
            },
        )),
    }
}

/// The message of the first reference that blocks deleting `id`, if any: the other stored
/// objects that can refer to it are listed and handed to `model::validate::check_delete`.
async fn blocking_reference(call: &Call<'_>, id: &str) -> Result<Option<String>, Reply> {
    let referrers: &[ResourceKind] = match call.kind {
        ResourceKind::StreamRoutes | ResourceKind::Services => &[ResourceKind::StreamRoutes],
        ResourceKind::Upstreams => &[ResourceKind::Services, ResourceKind::StreamRoutes],
        ResourceKind::Ssls | ResourceKind::PluginMetadata => &[],
    };
    let mut others = Vec::new();
    for kind in referrers {
        let (items, _) = call.ctx.store.list(&call.ctx.dir_prefix(*kind)).await?;
        others.extend(
            items
                .into_iter()
                .filter(|item| item.value.is_object())
                .map(|item| (*kind, stored_id(&item.key, &item.value), item.value)),
        );
    }
    Ok(validate::check_delete(call.kind, id, &others)
        .err()
        .map(|err| err.message))
}
