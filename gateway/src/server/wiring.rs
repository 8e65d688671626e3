//! Integration points of the server with the other parts: config loading, the store, the
//! admin key, the snapshot watcher and the Admin API. Each is one call into its module.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigProvider, Role};
use crate::plugins::PluginState;
use crate::snapshot::SharedSnapshot;
use crate::store::embedded::EmbeddedStore;
use crate::store::etcd::EtcdStore;
use crate::store::yaml::YamlStore;
use crate::store::Store;
use crate::{admin, config, snapshot};

/// How long start-up waits for the first snapshot before serving with an empty one.
pub const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

/// Loads and validates a configuration; `Err` holds one line per problem. Warnings are logged.
pub fn load_config(path: &Path, prefix: Option<&Path>) -> Result<Config, Vec<String>> {
    match config::load(path, prefix) {
        Ok((config, warnings)) => {
            for warning in warnings {
                tracing::warn!(config = %path.display(), "{warning}");
            }
            Ok(config)
        }
        Err(errors) => Err(errors.messages),
    }
}

/// Generates and stores the admin key when the configured one is empty.
pub fn ensure_admin_key(config: &mut Config) -> Result<(), String> {
    admin::ensure_admin_key(config)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

/// Opens the configured store (`embedded` → `config.deployment.data_dir`, `etcd` → `deployment.etcd`,
/// `yaml` → `<prefix>/conf/apisix.yaml`, or in memory for the Admin API when a traditional
/// node serves it: API-driven standalone).
pub fn open_store(config: &Config) -> Result<Option<Arc<dyn Store>>, String> {
    match config.deployment.config_provider {
        ConfigProvider::Embedded => {
            let store = EmbeddedStore::open(&config.deployment.data_dir).map_err(|err| {
                format!(
                    "failed to open the embedded store in {}: {err}",
                    config.deployment.data_dir.display()
                )
            })?;
            Ok(Some(Arc::new(store)))
        }
        ConfigProvider::Etcd => {
            let store = EtcdStore::new(&config.etcd)
                .map_err(|err| format!("failed to set up the etcd store: {err}"))?;
            if config.deployment.role != Role::DataPlane {
                store.spawn_init_dirs(&config.etcd.prefix);
            }
            tracing::info!(endpoints = ?config.etcd.hosts, prefix = %config.etcd.prefix, "using etcd");
            Ok(Some(Arc::new(store)))
        }
        ConfigProvider::Yaml
            if config.deployment.role == Role::Traditional && config.admin_enabled() =>
        {
            tracing::info!(
                "API-driven standalone: the configuration comes from PUT /apisix/admin/configs \
                 and is kept in memory only (empty after a restart)"
            );
            Ok(Some(Arc::new(YamlStore::api_driven(&config.etcd.prefix))))
        }
        ConfigProvider::Yaml => {
            let path = config.prefix.join("conf").join("apisix.yaml");
            tracing::info!(path = %path.display(), "using the standalone yaml file");
            Ok(Some(Arc::new(YamlStore::open(&path, &config.etcd.prefix))))
        }
    }
}

/// Starts the watcher that compiles store contents into `target`; the returned receiver
/// fires once the first snapshot is in place.
pub fn start_snapshot_watcher(
    store: Option<Arc<dyn Store>>,
    config: &Config,
    plugin_state: Arc<PluginState>,
    target: SharedSnapshot,
) -> oneshot::Receiver<()> {
    let (ready_tx, ready_rx) = oneshot::channel();
    match store {
        Some(store) => {
            let watcher =
                snapshot::SnapshotWatcher::new(config.etcd.prefix.clone(), config.check_context())
                    .with_options(snapshot::CompileOptions {
                        plugin_state: Some(plugin_state),
                        ..snapshot::CompileOptions::from_config(config)
                    });
            tokio::spawn(snapshot::run_watcher_with(
                store,
                watcher,
                target,
                Some(ready_tx),
            ));
        }
        None => {
            let _ = ready_tx.send(());
        }
    }
    ready_rx
}

/// Starts the Admin API on `config.admin.listen`; the task ends when `shutdown` is cancelled.
pub async fn start_admin(
    config: &Config,
    store: Option<Arc<dyn Store>>,
    remote: &admin::RemoteAccess,
    shutdown: CancellationToken,
) -> Result<Option<JoinHandle<()>>, String> {
    let Some(store) = store else {
        return Err("the admin api needs a store".to_owned());
    };
    let listener = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .map_err(|err| format!("failed to listen on tcp {}: {err}", config.admin.listen))?;
    let ctx = Arc::new(
        admin::AdminContext::new(Arc::new(config.clone()), store).with_audit(remote.audit.clone()),
    );
    let tls = remote.tls.admin.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(err) = admin::serve_remote(listener, ctx, tls, shutdown.cancelled_owned()).await
        {
            tracing::error!("admin api stopped: {err}");
        }
    })))
}

/// Raises the soft `RLIMIT_NOFILE` to `wanted` (`nginx_config.worker_rlimit_nofile`), capped at
/// the hard limit, and logs the limit in force. Never lowers it.
pub fn raise_open_file_limit(wanted: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (mut soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit");
            return 0;
        }
    };
    let target = wanted.min(hard);
    if target > soft {
        match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            Ok(()) => soft = target,
            Err(error) => tracing::warn!(%error, wanted, "cannot raise the open-file limit"),
        }
    }
    if wanted > hard {
        tracing::warn!(
            wanted,
            hard,
            "worker_rlimit_nofile is above the hard limit: capped"
        );
    }
    tracing::info!(
        open_files = soft,
        "open-file limit in force (worker_rlimit_nofile)"
    );
    soft
}
