//! The standalone YAML store (`config_provider: yaml`): a read-only [`Store`] whose contents
//! come from `<prefix>/conf/apisix.yaml` in APISIX's format (REFERENCE.md §2.8).
//!
//! - Top-level keys are directories (`stream_routes`, `upstreams`, `services`, `ssls`,
//!   `plugin_metadata`, ...), each an array of objects carrying their own `id`. They become
//!   synthetic keys `<prefix>/<dir>/<id>`; the snapshot compiler validates them and skips (and
//!   logs) bad ones. Items without an id, or not objects, are logged and skipped here.
//! - `${{ENV}}` / `${{ENV:=default}}` are substituted in the parsed values and keys
//!   ([`env::resolve`]), so a variable cannot change the document's structure.
//! - The file counts only once it ends with a line `#END`; until then the previous contents
//!   stay (logged once per incomplete version).
//! - A poller checks the file's mtime, size and inode every second and re-reads it on change; each
//!   accepted version bumps the revision and is sent to watchers as a full
//!   [`WatchEvent::Snapshot`]. An item keeps its `create_revision` across versions and its
//!   `mod_revision` while its value is unchanged.
//! - Every write answers [`StoreError::Unavailable`]`("read-only: standalone yaml")`.
//! - API-driven standalone ([`YamlStore::api_driven`], `role: traditional` with
//!   `config_provider: yaml` and the Admin API on): no file; the contents are whatever
//!   `PUT /apisix/admin/configs` last gave ([`YamlStore::replace`]), in memory only (empty
//!   after a restart, as in APISIX).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::{KeyValue, PutOutcome, Store, StoreError, StoreResult, WatchEvent};
use crate::config::env;

/// How often the file is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The error every write returns.
pub const READ_ONLY: &str = "read-only: standalone yaml";

/// One accepted version of the file.
#[derive(Debug, Default)]
struct Contents {
    items: BTreeMap<String, KeyValue>,
    revision: i64,
}

/// Where the contents come from.
#[derive(Debug)]
enum Feed {
    /// The file, re-read by this poller task.
    File(tokio::task::JoinHandle<()>),
    /// `PUT /apisix/admin/configs` through [`YamlStore::replace`].
    Api(watch::Sender<Arc<Contents>>),
}

/// A read-only store fed by the standalone YAML file, or by the Admin API (API-driven mode).
#[derive(Debug)]
pub struct YamlStore {
    path: PathBuf,
    current: watch::Receiver<Arc<Contents>>,
    feed: Feed,
    prefix: String,
}

impl YamlStore {
    /// Reads `path` now (a missing or incomplete file gives an empty store) and starts the
    /// poller. `prefix` is the key prefix (`deployment.etcd.prefix`, e.g. `/apisix`). Must be
    /// called inside a tokio runtime.
    pub fn open(path: &Path, prefix: &str) -> Self {
        let mut loader = Loader {
            path: path.to_path_buf(),
            prefix: prefix.trim_end_matches('/').to_owned(),
            seen: None,
            logged_incomplete: None,
        };
        let initial = loader
            .poll(&Contents::default())
            .unwrap_or_else(|| Arc::new(Contents::default()));
        let (tx, rx) = watch::channel(initial);
        let poller = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(POLL_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = tx.closed() => return,
                }
                let previous = tx.borrow().clone();
                if let Some(next) = loader.poll(&previous) {
                    tx.send_replace(next);
                }
            }
        });
        YamlStore {
            path: path.to_path_buf(),
            current: rx,
            feed: Feed::File(poller),
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// An empty store for API-driven standalone mode, filled by [`YamlStore::replace`].
    pub fn api_driven(prefix: &str) -> Self {
        let (tx, rx) = watch::channel(Arc::new(Contents::default()));
        YamlStore {
            path: PathBuf::new(),
            current: rx,
            feed: Feed::Api(tx),
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// Whether this store is fed by the Admin API (API-driven standalone).
    pub fn is_api_driven(&self) -> bool {
        matches!(self.feed, Feed::Api(_))
    }

    /// API-driven mode: replaces everything with the items of `root` (a whole configuration
    /// document: `{"stream_routes": [...], "upstreams": [...], ...}`) and returns the new
    /// revision. Items without an id are logged and skipped. A file-fed store is not changed
    /// (`None`).
    pub fn replace(&self, root: serde_json::Map<String, Value>) -> Option<i64> {
        let Feed::Api(tx) = &self.feed else {
            return None;
        };
        let parsed = items_from_root(root, &self.prefix);
        let previous = tx.borrow().clone();
        let next = next_contents(&previous, parsed);
        let revision = next.revision;
        tracing::info!(
            revision,
            items = next.items.len(),
            "standalone configuration applied from the admin api"
        );
        tx.send_replace(Arc::new(next));
        Some(revision)
    }

    /// The file this store reads (empty in API-driven mode).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The revision of the version in force (0 before any complete file was read).
    pub fn revision(&self) -> i64 {
        self.current.borrow().revision
    }
}

impl Drop for YamlStore {
    fn drop(&mut self) {
        if let Feed::File(poller) = &self.feed {
            poller.abort();
        }
    }
}

/// What identifies a version of the file: mtime, size and inode (editors that write a new
/// file and rename it change the inode).
type Stamp = (SystemTime, u64, u64);

/// Reads the file when it changed.
struct Loader {
    path: PathBuf,
    prefix: String,
    /// (mtime, size, inode) of the last version looked at.
    seen: Option<Stamp>,
    /// The stamp of an incomplete version already logged.
    logged_incomplete: Option<Stamp>,
}

impl Loader {
    /// A new version when the file changed and is complete, else `None`.
    fn poll(&mut self, previous: &Contents) -> Option<Arc<Contents>> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(meta) => (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
                std::os::unix::fs::MetadataExt::ino(&meta),
            ),
            Err(err) => {
                if self.seen.is_some() || self.logged_incomplete.is_none() {
                    tracing::warn!(path = %self.path.display(), error = %err, "standalone yaml file not readable; keeping the current configuration");
                    self.logged_incomplete = Some((SystemTime::UNIX_EPOCH, 0, 0));
                    self.seen = None;
                }
                return None;
            }
        };
        if self.seen == Some(stamp) {
            return None;
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "failed to read the standalone yaml file");
                return None;
            }
        };
        if !is_complete(&text) {
            if self.logged_incomplete != Some(stamp) {
                tracing::warn!(path = %self.path.display(), "standalone yaml file does not end with #END yet; ignoring it until it does");
                self.logged_incomplete = Some(stamp);
            }
            return None;
        }
        self.seen = Some(stamp);
        let parsed = match parse(&text, &self.prefix) {
            Ok(parsed) => parsed,
            Err(problems) => {
                for problem in problems {
                    tracing::error!(path = %self.path.display(), problem, "standalone yaml file rejected; keeping the current configuration");
                }
                return None;
            }
        };
        let next = next_contents(previous, parsed);
        tracing::info!(path = %self.path.display(), revision = next.revision, items = next.items.len(), "standalone yaml configuration loaded");
        Some(Arc::new(next))
    }
}

/// The version after `previous` holding `parsed`: an item keeps its `create_revision`, and its
/// `mod_revision` while its value is unchanged.
fn next_contents(previous: &Contents, parsed: Vec<(String, Value)>) -> Contents {
    let revision = previous.revision + 1;
    let items = parsed
        .into_iter()
        .map(|(key, value)| {
            let old = previous.items.get(&key);
            let create_revision = old.map_or(revision, |o| o.create_revision);
            let mod_revision = match old {
                Some(o) if o.value == value => o.mod_revision,
                _ => revision,
            };
            let kv = KeyValue {
                key: key.clone(),
                value,
                create_revision,
                mod_revision,
                lease: 0,
            };
            (key, kv)
        })
        .collect::<BTreeMap<_, _>>();
    Contents { items, revision }
}

/// Whether the last non-blank line is `#END`.
pub fn is_complete(text: &str) -> bool {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_end() == "#END")
}

/// Parses the file text into `(key, value)` pairs; `Err` when the file as a whole is unusable
/// (unknown variable, bad YAML, not a mapping). Bad items are logged and skipped.
pub fn parse(text: &str, prefix: &str) -> Result<Vec<(String, Value)>, Vec<String>> {
    let lookup = |name: &str| std::env::var(name).ok();
    let yaml = env::parse_yaml(text, &lookup).map_err(|e| match e {
        env::EnvYamlError::Yaml(e) => vec![format!("invalid yaml: {e}")],
        env::EnvYamlError::Variables(errors) => errors,
    })?;
    let root =
        serde_json::to_value(&yaml).map_err(|e| vec![format!("unsupported yaml value: {e}")])?;
    let root = match root {
        Value::Object(map) => map,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(vec![
                "expected a mapping of resource lists at the top".into()
            ])
        }
    };
    Ok(items_from_root(root, prefix))
}

/// The `(key, value)` pairs of a configuration document: every list under a top-level key
/// (`<type>_conf_version` keys skipped) becomes `<prefix>/<type>/<id>`; items that are not
/// objects or have no id are logged and skipped; a duplicate id: the last one wins.
pub fn items_from_root(root: serde_json::Map<String, Value>, prefix: &str) -> Vec<(String, Value)> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (dir, list) in root {
        if dir.ends_with("_conf_version") || dir.starts_with("X-") {
            continue;
        }
        let Value::Array(items) = list else {
            tracing::warn!(dir, "standalone yaml: expected a list of objects; skipped");
            continue;
        };
        for (i, item) in items.into_iter().enumerate() {
            let id = match item.get("id") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    tracing::warn!(
                        dir,
                        index = i,
                        "standalone yaml: item without a valid id; skipped"
                    );
                    continue;
                }
            };
            if !item.is_object() {
                tracing::warn!(
                    dir,
                    index = i,
                    "standalone yaml: item is not an object; skipped"
                );
                continue;
            }
            let key = format!("{prefix}/{dir}/{id}");
            if out.insert(key.clone(), item).is_some() {
                tracing::warn!(key, "standalone yaml: duplicate id; the last one wins");
            }
        }
    }
    out.into_iter().collect()
}

fn read_only<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable(READ_ONLY.into()))
}

#[async_trait]
impl Store for YamlStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        Ok(self.current.borrow().items.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> StoreResult<(Vec<KeyValue>, i64)> {
        let current = self.current.borrow();
        let items = current
            .items
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        Ok((items, current.revision))
    }

    async fn put(&self, _key: &str, _value: &Value, _lease: i64) -> StoreResult<PutOutcome> {
        read_only()
    }

    async fn cas(&self, _: &str, _: i64, _: &Value, _: i64) -> StoreResult<PutOutcome> {
        read_only()
    }

    async fn delete(&self, _key: &str) -> StoreResult<Option<KeyValue>> {
        read_only()
    }

    async fn next_id(&self, _prefix: &str) -> StoreResult<i64> {
        read_only()
    }

    async fn grant_lease(&self, _ttl: Duration) -> StoreResult<i64> {
        read_only()
    }

    async fn watch(&self, prefix: &str) -> StoreResult<mpsc::Receiver<WatchEvent>> {
        let (tx, rx) = mpsc::channel(4);
        let mut current = self.current.clone();
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            loop {
                let contents = current.borrow_and_update().clone();
                let items = contents
                    .items
                    .values()
                    .filter(|kv| kv.key.starts_with(&prefix))
                    .cloned()
                    .collect();
                let event = WatchEvent::Snapshot {
                    items,
                    revision: contents.revision,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
                tokio::select! {
                    changed = current.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }

    async fn reachable(&self) -> bool {
        true
    }

    fn as_api_driven(&self) -> Option<&YamlStore> {
        self.is_api_driven().then_some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_counts_only_when_its_last_line_is_end() {
        assert!(is_complete("upstreams: []\n#END\n"));
        assert!(is_complete("upstreams: []\n#END\n\n"));
        assert!(!is_complete("upstreams: []\n"));
        assert!(!is_complete("#END\nupstreams: []\n"));
    }

    #[test]
    fn items_become_prefixed_keys_and_bad_items_are_skipped() {
        let text = "stream_routes:\n  - id: 1\n    server_port: 1985\n  - server_port: 2\n  - 7\nupstreams:\n  - id: u1\n    nodes: {\"127.0.0.1:1995\": 1}\n    type: roundrobin\nstream_routes_conf_version: 3\n#END\n";
        let parsed = parse(text, "/apisix").expect("parse");
        let keys: Vec<&str> = parsed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["/apisix/stream_routes/1", "/apisix/upstreams/u1"]);
        assert_eq!(parsed[0].1["server_port"], 1985);
    }

    #[test]
    fn environment_variables_are_substituted_with_defaults() {
        let text = "upstreams:\n  - id: 1\n    nodes: {\"127.0.0.1:${{YAML_STORE_TEST_UNSET_PORT:=1995}}\": 1}\n#END\n";
        let parsed = parse(text, "/apisix").expect("parse");
        assert!(parsed[0].1["nodes"].get("127.0.0.1:1995").is_some());
        assert!(parse(
            "upstreams:\n  - id: ${{YAML_STORE_TEST_MISSING}}\n#END\n",
            "/apisix"
        )
        .is_err());
    }
}
