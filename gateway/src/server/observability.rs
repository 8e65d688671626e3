//! The composition root of observability: the session pipeline and its sinks (route stats,
//! the Prometheus counters, the access log writer), the 1 s stats ticker, the stream plugins'
//! shared state, the Control API and the Prometheus export server. The server module makes
//! one call here at start, reload of logs and stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accesslog::{self, AccessLogSender};
use crate::config::Config;
use crate::control::ControlContext;
use crate::health::passive::PassiveHealth;
use crate::metrics::{MetricsContext, StreamMetrics};
use crate::plugins::PluginState;
use crate::proxy::ProxyContext;
use crate::session::SessionPipeline;
use crate::snapshot::SharedSnapshot;
use crate::store::Store;

/// Whether `new` changes settings of the observability side, which apply at start only.
pub fn restart_needed(old: &Config, new: &Config) -> bool {
    old.control.enabled != new.control.enabled
        || old.control.listen != new.control.listen
        || old.prometheus != new.prometheus
        || old.stream.log != new.stream.log
}

/// How long stopping waits for each server task.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The running observability tasks.
#[derive(Debug, Default)]
pub struct ObserveServices {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    access_log: Option<AccessLogSender>,
    log_task: Option<JoinHandle<()>>,
    control_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    /// The Prometheus counters fed by finished sessions.
    stream_metrics: Arc<StreamMetrics>,
    /// The stream plugins' state shared by every snapshot (handed to the snapshot compile).
    plugin_state: Arc<PluginState>,
    /// The Control API's TLS and the audit trail of its connection kills.
    remote: crate::admin::RemoteAccess,
}

/// Builds the session pipeline for `config` with its sinks registered (opening the access
/// log when enabled) and starts its stats ticker.
pub async fn observer(config: &Config) -> Result<(Arc<SessionPipeline>, ObserveServices), String> {
    let mut services = ObserveServices::default();
    let mut pipeline = SessionPipeline::new()
        .with_sink(Arc::new(PassiveHealth))
        .with_sink(services.stream_metrics.clone());
    if let Some((sender, task)) = accesslog::start(&config.stream.log, config.log.format)
        .await
        .map_err(|e| format!("failed to open the access log: {e}"))?
    {
        services.access_log = Some(sender.clone());
        services.log_task = Some(task);
        pipeline = pipeline.with_sink(Arc::new(sender));
    }
    if !config.data_plane.live_stats {
        tracing::warn!(
            "apisix.data_plane.live_stats is off: route stats, metrics, the access log and \
             syslog are off (benchmarking only)"
        );
        pipeline = pipeline.without_live_stats();
    }
    let pipeline = Arc::new(pipeline);
    services
        .tasks
        .push(pipeline.spawn_ticker(services.stop.clone()));
    Ok((pipeline, services))
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{what}: failed to listen on tcp {addr}: {e}"))
}

impl ObserveServices {
    /// TLS and audit for the Control API started by [`ObserveServices::start_servers`].
    pub fn set_remote_access(&mut self, remote: crate::admin::RemoteAccess) {
        self.remote = remote;
    }

    /// Starts the Control API (`enable_control`) and the export server
    /// (`plugin_attr.prometheus.enable_export_server`).
    pub async fn start_servers(
        &mut self,
        config: &Config,
        proxy: Arc<ProxyContext>,
        snapshot: SharedSnapshot,
        store: Option<Arc<dyn Store>>,
    ) -> Result<(), String> {
        if config.control.enabled {
            let listener = bind(config.control.listen, "control api").await?;
            self.control_addr = listener.local_addr().ok();
            let ctx = Arc::new(ControlContext {
                config: Arc::new(config.clone()),
                proxy: proxy.clone(),
                snapshot: snapshot.clone(),
                store: store.clone(),
                started: Instant::now(),
                audit: self.remote.audit.clone(),
            });
            let tls = self.remote.tls.control.clone();
            self.tasks.push(tokio::spawn(crate::control::serve_remote(
                listener,
                ctx,
                tls,
                self.stop.clone(),
            )));
        }
        if config.prometheus.enable_export_server {
            let listener = bind(config.prometheus.export_addr, "prometheus export").await?;
            self.metrics_addr = listener.local_addr().ok();
            let trimmed = config.etcd.prefix.trim_matches('/');
            let ctx = Arc::new(MetricsContext {
                proxy,
                stream: self.stream_metrics.clone(),
                access_log: self.access_log.clone(),
                snapshot,
                store,
                metric_prefix: config.prometheus.metric_prefix.clone(),
                key_prefix: if trimmed.is_empty() {
                    String::new()
                } else {
                    format!("/{trimmed}")
                },
            });
            self.tasks.push(tokio::spawn(crate::metrics::server::serve(
                listener,
                ctx,
                self.stop.clone(),
            )));
        }
        Ok(())
    }

    /// The Control API's bound address, when it runs.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// The export server's bound address, when it runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The Prometheus counters fed by finished sessions.
    pub fn stream_metrics(&self) -> &Arc<StreamMetrics> {
        &self.stream_metrics
    }

    /// The stream plugins' shared state (limit-conn counters, syslog senders).
    pub fn plugin_state(&self) -> &Arc<PluginState> {
        &self.plugin_state
    }

    /// The access log writer, when enabled.
    pub fn access_log(&self) -> Option<&AccessLogSender> {
        self.access_log.as_ref()
    }

    /// Reopens the access log (SIGUSR1, after a rotation).
    pub async fn reopen_logs(&self) {
        if let Some(log) = &self.access_log {
            if let Err(e) = log.reopen().await {
                tracing::error!(error = %e, "access log reopen failed");
            }
        }
    }

    /// Stops the servers and the ticker and waits for them; the access log writer ends once
    /// the last session holding the sink is gone.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
                tracing::warn!("an observability task did not stop in time");
            }
        }
        if let Some(log) = &self.access_log {
            let _ = log.flush().await;
        }
        // The writer only ends when every sender is gone (sessions may still hold one).
        if let Some(task) = self.log_task.take() {
            task.abort();
        }
    }
}
