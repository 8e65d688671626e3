//! Wires the gateway together and runs it until shutdown.
//!
//! Start-up: pid file → admin key → the APIs' certificates and audit trail
//! ([`crate::admin::RemoteAccess`]) → store → snapshot watcher (bounded wait for the first
//! snapshot) → stream listeners → Admin API. Then it waits for [`LifecycleEvent`]s:
//! `Reload` re-reads the config file and reconciles the listeners (an invalid new config is
//! logged and ignored) and re-reads the APIs' certificate files; `ReopenLogs` reopens the
//! access and audit logs; `Shutdown` (or the event channel closing) stops accepting, drains live
//! connections for `graceful_shutdown_timeout`, kills the rest and returns. Under systemd
//! ([`systemd`]) start-up ends with `READY=1`, a reload is framed by `RELOADING=1`/`READY=1`,
//! and the drain starts with `STOPPING=1`. `ReopenLogs` reopens the error log too
//! ([`crate::logging::reopen`]).

pub mod observability;
pub mod pidfile;
pub mod signals;
pub mod systemd;
pub mod wiring;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogSettings};
use crate::proxy::admission::Admission;
use crate::proxy::busy_poll::BusyPoll;
use crate::proxy::listener::{ListenError, ListenerSet, ReconcileReport};
use crate::proxy::registry::ConnectionRegistry;
use crate::proxy::source::SnapshotRoutes;
use crate::proxy::tls::TlsContext;
use crate::proxy::ProxyContext;
use crate::runtime::Workers;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::tls::TlsSettings;

pub use observability::ObserveServices;
pub use pidfile::PidFile;
pub use signals::signal_events;

/// What the running server is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// Re-read the configuration file (SIGHUP).
    Reload,
    /// Stop accepting, drain, exit (SIGTERM / SIGINT). A second one during the drain cuts it short.
    Shutdown,
    /// Reopen the log files after a rotation (SIGUSR1).
    ReopenLogs,
}

/// Failures that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("pid file: {0}")]
    PidFile(#[from] pidfile::PidFileError),
    #[error("admin key: {0}")]
    AdminKey(String),
    #[error("store: {0}")]
    Store(String),
    #[error("admin api: {0}")]
    Admin(String),
    #[error("observability: {0}")]
    Observe(String),
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections still live when the grace period ran out (and were killed).
    pub killed: usize,
}

/// Runs the gateway with `config` until a [`LifecycleEvent::Shutdown`] arrives or `events`
/// closes, telling systemd when start-up is complete ([`systemd::ready`]).
pub async fn run(
    config: Config,
    workers: Workers,
    events: mpsc::Receiver<LifecycleEvent>,
) -> Result<(), ServerError> {
    let server = Server::start_on(config, workers).await?;
    systemd::ready();
    server.serve(events).await
}

/// A started gateway: listeners bound, Admin API up, waiting for lifecycle events.
#[derive(Debug)]
pub struct Server {
    config: Config,
    proxy: Arc<ProxyContext>,
    snapshot: SharedSnapshot,
    listeners: ListenerSet,
    admin_shutdown: CancellationToken,
    admin_task: Option<JoinHandle<()>>,
    observe: ObserveServices,
    /// TLS and audit of the Admin and Control APIs.
    remote: crate::admin::RemoteAccess,
    /// Active health checkers (stopped when the server is dropped).
    /// Active health probes; none with `apisix.disable_upstream_healthcheck`.
    _health: Option<crate::health::HealthManager>,
    _pid_file: PidFile,
}

impl Server {
    /// Starts everything in order (see the module docs); any failure stops start-up.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        Server::start_on(config, Workers::default()).await
    }

    /// [`Server::start`] with the stream listeners on the per-core `workers`.
    pub async fn start_on(mut config: Config, workers: Workers) -> Result<Server, ServerError> {
        let pid_file = PidFile::create(&config.prefix)?;
        wiring::raise_open_file_limit(config.workers.rlimit_nofile);
        wiring::ensure_admin_key(&mut config).map_err(ServerError::AdminKey)?;
        let remote = crate::admin::RemoteAccess::start(&config).map_err(ServerError::Admin)?;
        let store = wiring::open_store(&config).map_err(ServerError::Store)?;

        let (sessions, mut observe) = observability::observer(&config)
            .await
            .map_err(ServerError::Observe)?;
        let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        let ready = wiring::start_snapshot_watcher(
            store.clone(),
            &config,
            observe.plugin_state().clone(),
            snapshot.clone(),
        );
        match tokio::time::timeout(wiring::FIRST_SNAPSHOT_WAIT, ready).await {
            Ok(Ok(())) => tracing::info!(
                revision = snapshot.load().revision,
                routes = snapshot.load().routes.len(),
                "configuration loaded"
            ),
            Ok(Err(_)) => tracing::warn!("snapshot watcher ended before the first snapshot"),
            Err(_) => tracing::warn!(
                waited = ?wiring::FIRST_SNAPSHOT_WAIT,
                "no configuration snapshot yet; serving with an empty one until it arrives"
            ),
        }

        let tls = Arc::new(TlsContext::new(
            Some(snapshot.clone()),
            TlsSettings::from_config(&config),
        ));
        crate::proxy::tls::routes::spawn_sni_route_check(&tls);
        let proxy = Arc::new(
            ProxyContext {
                sessions,
                relay: config.data_plane.relay,
                admission: Arc::new(admission_for(&config, &workers)),
                busy_poll: config
                    .data_plane
                    .busy_poll
                    .map(|window| BusyPoll::start(window, &workers, config.workers.processes)),
                ..ProxyContext::new(Arc::new(SnapshotRoutes::new(snapshot.clone())))
            }
            .with_tls(tls),
        );
        let mut listeners = ListenerSet::new(proxy.clone()).with_workers(workers);
        let (tcp, udp) = config.stream_listens();
        listeners.reconcile(tcp, udp).await?;

        let admin_shutdown = CancellationToken::new();
        let admin_task = if config.admin_enabled() {
            wiring::start_admin(&config, store.clone(), &remote, admin_shutdown.clone())
                .await
                .map_err(ServerError::Admin)?
        } else {
            None
        };
        observe.set_remote_access(remote.clone());
        observe
            .start_servers(&config, proxy.clone(), snapshot.clone(), store)
            .await
            .map_err(ServerError::Observe)?;
        tracing::info!(pid = std::process::id(), "apisix-gateway started");
        Ok(Server {
            _health: (!config.disable_upstream_healthcheck)
                .then(|| crate::health::HealthManager::start(snapshot.clone())),
            config,
            proxy,
            snapshot,
            listeners,
            admin_shutdown,
            admin_task,
            observe,
            remote,
            _pid_file: pid_file,
        })
    }

    /// The shared data-plane state (registry, counters, routing).
    pub fn proxy(&self) -> &Arc<ProxyContext> {
        &self.proxy
    }

    /// The running configuration snapshot.
    pub fn snapshot(&self) -> &SharedSnapshot {
        &self.snapshot
    }

    /// The bound stream listeners.
    pub fn listeners(&self) -> &ListenerSet {
        &self.listeners
    }

    /// The Control API, export server and access log of this server.
    pub fn observe(&self) -> &ObserveServices {
        &self.observe
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles events until shutdown, then drains and stops everything.
    pub async fn serve(
        mut self,
        mut events: mpsc::Receiver<LifecycleEvent>,
    ) -> Result<(), ServerError> {
        while let Some(event) = events.recv().await {
            match event {
                LifecycleEvent::Reload => {
                    systemd::reloading();
                    let old = self.config.clone();
                    reload(&mut self.config, &mut self.listeners).await;
                    self.remote.reload(&old, &self.config);
                    self.proxy
                        .tls
                        .set_settings(TlsSettings::from_config(&self.config));
                    systemd::ready();
                }
                LifecycleEvent::Shutdown => break,
                LifecycleEvent::ReopenLogs => {
                    if let Err(error) = crate::logging::reopen() {
                        tracing::error!(%error, "error log reopen failed: keeping the old file");
                    }
                    self.observe.reopen_logs().await;
                    self.remote.reopen_logs();
                }
            }
        }

        systemd::stopping();
        let registry = self.proxy.registry.clone();
        tracing::info!(live = registry.len(), "shutting down: no longer accepting");
        let grace = self.config.graceful_shutdown_timeout;
        let report = tokio::select! {
            report = drain(&mut self.listeners, &registry, grace) => report,
            Some(LifecycleEvent::Shutdown) = events.recv() => {
                let killed = registry.kill_all();
                tracing::warn!(killed, "second shutdown request: closing live connections now");
                DrainReport { killed }
            }
        };
        if report.killed > 0 {
            tracing::warn!(killed = report.killed, grace = ?grace, "grace period over: closed live connections");
        }
        self.observe.stop().await;
        self.admin_shutdown.cancel();
        if let Some(task) = self.admin_task.take() {
            let _ = task.await;
        }
        tracing::info!("apisix-gateway stopped");
        Ok(())
    }
}

/// Stops every listener, waits up to `grace` for live connections to finish, then kills the
/// rest (and waits briefly for them to go).
pub async fn drain(
    listeners: &mut ListenerSet,
    registry: &ConnectionRegistry,
    grace: Duration,
) -> DrainReport {
    listeners.stop_all().await;
    if registry.wait_empty(grace).await {
        return DrainReport { killed: 0 };
    }
    let killed = registry.kill_all();
    if !registry.wait_empty(Duration::from_secs(5)).await {
        tracing::warn!(
            live = registry.len(),
            "connections still open after being killed"
        );
    }
    DrainReport { killed }
}

/// The session slots `nginx_config.event.worker_connections` allows: a pool per per-core worker,
/// or one pool for the multi-thread runtime's `worker_processes` threads.
fn admission_for(config: &Config, workers: &Workers) -> Admission {
    match workers.handles() {
        Some(handles) => Admission::per_worker(handles.len(), config.workers.connections),
        None => Admission::shared(config.workers.processes, config.workers.connections),
    }
}

/// Re-reads the config file and applies what can change at run time (the stream listeners).
/// An invalid new config, or a listener that cannot be opened, is logged and ignored.
async fn reload(config: &mut Config, listeners: &mut ListenerSet) {
    tracing::info!(path = %config.path.display(), "reloading configuration");
    let mut new = match wiring::load_config(&config.path, Some(&config.prefix)) {
        Ok(new) => new,
        Err(problems) => {
            for problem in &problems {
                tracing::error!(problem = %problem, "reload rejected: invalid configuration");
            }
            return;
        }
    };
    if let Err(e) = wiring::ensure_admin_key(&mut new) {
        tracing::error!(error = %e, "reload rejected: admin key");
        return;
    }
    let (tcp, udp) = new.stream_listens();
    match listeners.reconcile(tcp, udp).await {
        Ok(report) => log_reconcile(&report),
        Err(e) => {
            tracing::error!(error = %e, "reload rejected: listeners unchanged");
            return;
        }
    }
    if new.admin.listen != config.admin.listen || new.admin_enabled() != config.admin_enabled() {
        tracing::warn!("admin api settings changed: they take effect after a restart");
    }
    if observability::restart_needed(config, &new) {
        tracing::warn!(
            "control api, metrics or access log settings changed: they take effect after a restart"
        );
    }
    if new.workers != config.workers {
        tracing::warn!(
            "worker_processes, worker_connections or worker_rlimit_nofile changed: they take \
             effect after a restart"
        );
    }
    if new.data_plane != config.data_plane {
        tracing::warn!(
            "apisix.data_plane or apisix.stream_proxy.busy_poll_us changed: they take effect \
             after a restart"
        );
    }
    if new.dns != config.dns {
        tracing::warn!("dns_resolver settings changed: they take effect after a restart");
    }
    if new.deployment.data_dir != config.deployment.data_dir
        || new.deployment.config_provider != config.deployment.config_provider
    {
        tracing::warn!("store settings changed: they take effect after a restart");
    }
    keep_log_settings(&config.log, &mut new.log);
    *config = new;
    tracing::info!("configuration reloaded");
}

/// The error log is set up once at start: a reload keeps the settings in force (warning when
/// the file asks for others), and a `--log-format` from the command line stays.
fn keep_log_settings(in_force: &LogSettings, new: &mut LogSettings) {
    if in_force.format_from_flag {
        new.format = in_force.format;
    }
    if (&new.error_log, new.level, new.format)
        != (&in_force.error_log, in_force.level, in_force.format)
    {
        tracing::warn!(
            "error_log, error_log_level or log_format changed: they take effect after a restart"
        );
    }
    *new = in_force.clone();
}

fn log_reconcile(report: &ReconcileReport) {
    if report.is_empty() {
        tracing::info!("stream listeners unchanged");
        return;
    }
    tracing::info!(
        tcp_added = ?report.tcp_added,
        tcp_removed = ?report.tcp_removed,
        udp_added = ?report.udp_added,
        udp_removed = ?report.udp_removed,
        "stream listeners changed"
    );
}
