//! The standalone `apisix.yaml` loader on arbitrary text: it never panics; each item it keeps
//! goes through the same validation as the snapshot compiler's.
#![no_main]

use apisix_gateway::store::yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = yaml::is_complete(text);
    let Ok(items) = yaml::parse(text, "/apisix") else {
        return;
    };
    let ctx = model::CheckContext::new(
        model::plugins::default_stream_plugins(),
        vec!["redis".to_owned(), "dubbo".to_owned()],
    );
    for (key, value) in items {
        assert!(key.starts_with("/apisix/"), "{key}");
        let Some(kind) = model::ResourceKind::ALL
            .into_iter()
            .find(|kind| key.starts_with(&format!("/apisix/{}/", kind.dir())))
        else {
            continue;
        };
        let id = key.rsplit('/').next().unwrap_or_default();
        let _ = model::validate::check_stored(kind, id, &value, &ctx);
    }
});
