//! The Admin API resource kinds: their URL segment, the store directory and the singular name
//! APISIX puts in messages (`missing stream route id`).

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
