//! The compiled `syslog` conf of one route: everything its log phase needs, read once when
//! the snapshot is built (the conf, the metadata's `log_format` and `max_pending_entries`, the
//! route and service ids).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::entry::{self, RouteIds};
use super::{SyslogConf, SyslogLogger, DEFAULT_MAX_PENDING};
use crate::plugins::{ChainContext, StreamPlugin};
use crate::session::SessionRecord;

/// One route's syslog log phase.
#[derive(Debug)]
pub struct SyslogPlugin {
    conf: SyslogConf,
    /// `log_format` of the conf, else of the plugin metadata.
    format: Option<Map<String, Value>>,
    max_pending: usize,
    ids: RouteIds,
    /// The worker key: one worker per route, conf and queue length.
    key: String,
    logger: Arc<SyslogLogger>,
}

/// Builds the plugin for the [registry](crate::plugins::registry).
pub fn build(raw: &Value, cx: &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>> {
    let Some(conf) = SyslogConf::parse(raw) else {
        tracing::warn!(route = %cx.route_id, "syslog: unreadable conf, plugin skipped");
        return None;
    };
    let metadata = cx.plugin_metadata.get("syslog");
    let meta_format = metadata
        .and_then(|m| m.get("log_format"))
        .and_then(Value::as_object)
        .filter(|f| !f.is_empty());
    let max_pending = metadata
        .and_then(|m| m.get("max_pending_entries"))
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_PENDING);
    let format = conf.log_format.clone().or_else(|| meta_format.cloned());
    Some(Arc::new(SyslogPlugin {
        key: format!("{}\n{raw}\n{max_pending}", cx.route_id),
        conf,
        format,
        max_pending,
        ids: RouteIds {
            route_id: cx.route_id.to_owned(),
            service_id: cx.service_id.map(str::to_owned),
        },
        logger: cx.state.syslog.clone(),
    }))
}

#[async_trait]
impl StreamPlugin for SyslogPlugin {
    fn prereads(&self) -> bool {
        false
    }

    fn logs(&self) -> bool {
        true
    }

    /// Queues the session's entry. Never waits.
    fn log(&self, record: &SessionRecord) {
        let body = match &self.format {
            Some(format) => entry::custom_entry(format, record, &self.ids),
            None => entry::default_entry(record, &self.ids),
        };
        let message = entry::rfc5424(&body, record.started_at + record.duration);
        self.logger.queue(
            self.key.clone(),
            self.conf.clone(),
            self.max_pending,
            message,
        );
    }
}
