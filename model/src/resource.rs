//! The Admin API resource kinds: their URL segment, the store directory and the singular name
//! APISIX puts in messages (`missing stream route id`); and the HTTP-only resources of APISIX
//! that this gateway serves as an empty, read-only store.

use serde::{Deserialize, Serialize};

/// A kind of object stored under `<prefix>/<dir>/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    StreamRoutes,
    Upstreams,
    Services,
    Ssls,
    PluginMetadata,
}

impl ResourceKind {
    /// Every kind, in the order the gateway loads them.
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Upstreams,
        ResourceKind::Services,
        ResourceKind::Ssls,
        ResourceKind::PluginMetadata,
        ResourceKind::StreamRoutes,
    ];

    /// The URL segment and store directory: `stream_routes`, `upstreams`, ...
    pub fn dir(self) -> &'static str {
        match self {
            ResourceKind::StreamRoutes => "stream_routes",
            ResourceKind::Upstreams => "upstreams",
            ResourceKind::Services => "services",
            ResourceKind::Ssls => "ssls",
            ResourceKind::PluginMetadata => "plugin_metadata",
        }
    }

    /// The singular name APISIX uses in messages: `stream route`, `upstream`, `ssl`, `service`.
    pub fn singular(self) -> &'static str {
        match self {
            ResourceKind::StreamRoutes => "stream route",
            ResourceKind::Upstreams => "upstream",
            ResourceKind::Services => "service",
            ResourceKind::Ssls => "ssl",
            ResourceKind::PluginMetadata => "plugin_metadata",
        }
    }

    /// Parses the URL segment / store directory.
    pub fn from_dir(dir: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.dir() == dir)
    }

    /// Whether `PATCH` is allowed (APISIX: not for stream routes and plugin metadata).
    pub fn supports_patch(self) -> bool {
        matches!(
            self,
            ResourceKind::Upstreams | ResourceKind::Services | ResourceKind::Ssls
        )
    }
}

/// APISIX's HTTP-only Admin API resources. This gateway proxies L4 only, so it serves them as
/// an empty, read-only store (lists are empty, one object is not found, writes are refused with
/// [`http_only_refusal`]) and never stores them; ADC and other APISIX tools read them.
pub const HTTP_ONLY_RESOURCES: [&str; 8] = [
    "routes",
    "consumers",
    "consumer_groups",
    "plugin_configs",
    "global_rules",
    "protos",
    "secrets",
    "credentials",
];

/// Whether `dir` names one of [`HTTP_ONLY_RESOURCES`].
pub fn is_http_only(dir: &str) -> bool {
    HTTP_ONLY_RESOURCES.contains(&dir)
}

/// The one answer to a write of an HTTP-only resource (also the validation error of such an
/// item in `POST /apisix/admin/configs/validate`).
pub fn http_only_refusal(dir: &str) -> String {
    format!("this gateway proxies L4 (TCP/UDP) only and does not store {dir}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_resources_are_never_stored_kinds() {
        for dir in HTTP_ONLY_RESOURCES {
            assert!(is_http_only(dir));
            assert_eq!(ResourceKind::from_dir(dir), None, "{dir}");
        }
        assert!(!is_http_only("stream_routes"));
        assert!(!is_http_only("graphql_cost_decorations"));
    }

    #[test]
    fn http_only_refusal_names_the_resource() {
        assert_eq!(
            http_only_refusal("routes"),
            "this gateway proxies L4 (TCP/UDP) only and does not store routes"
        );
    }
}
