//! Admin API body validation (`model::validate`) for every resource kind and write method:
//! it never panics. The first byte picks the kind and method, the rest is the JSON body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::{CheckContext, ResourceKind, WriteMethod};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let kinds = ResourceKind::ALL;
    let kind = kinds[usize::from(selector) % kinds.len()];
    let method = match (selector / 8) % 3 {
        0 => WriteMethod::Put,
        1 => WriteMethod::Post,
        _ => WriteMethod::Patch,
    };
    let path_id = match method {
        WriteMethod::Post => None,
        _ if kind == ResourceKind::PluginMetadata => Some("mqtt-proxy"),
        _ => Some("1"),
    };
    let ctx = CheckContext::new(
        model::plugins::default_stream_plugins(),
        vec!["redis".to_owned(), "dubbo".to_owned()],
    );
    let _ = model::validate::check_write(kind, method, path_id, Some(&body), &ctx);
    let _ = model::validate::check_schema_only(kind, &body);
});
