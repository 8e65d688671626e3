//! No well-known default key (DESIGN.md §4): when a key is required and the `admin` role key is
//! empty, the gateway generates a random key at first start, keeps it in
//! `<prefix>/conf/admin_key` (mode 0600) and reuses it on later starts. `apisixctl` on the
//! same machine reads that file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

use crate::config::{AdminKey, Config};

/// The key file, relative to the prefix directory.
pub const ADMIN_KEY_FILE: &str = "conf/admin_key";

/// Length of a generated key.
const KEY_LEN: usize = 32;

/// The key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    #[error("admin key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fills an empty `admin`-role key from `<prefix>/conf/admin_key`, creating the file with a
/// fresh random key if needed; with no key configured at all, adds an `admin` key from that
/// file. Returns the file's path when the key came from it, `None` when no key was needed
/// (keys not required, or every admin key is set in config.yaml).
pub fn ensure_admin_key(config: &mut Config) -> Result<Option<PathBuf>, AdminKeyError> {
    if !config.admin.key_required {
        tracing::warn!(
            "admin key is bypassed (admin_key_required: false); do not run like this in production"
        );
        return Ok(None);
    }
    if config.admin.keys.is_empty() {
        config.admin.keys.push(AdminKey::for_role("admin", ""));
    }
    let Some(slot) = config
        .admin
        .keys
        .iter_mut()
        .find(|key| key.role == "admin" && key.key.is_empty())
    else {
        return Ok(None);
    };
    let path = config.prefix.join(ADMIN_KEY_FILE);
    let key = match read_key(&path)? {
        Some(key) => {
            tracing::info!(path = %path.display(), "admin API: using the admin key from its key file");
            key
        }
        None => {
            let key = Alphanumeric.sample_string(&mut rand::thread_rng(), KEY_LEN);
            write_key(&path, &key)?;
            tracing::warn!(
                path = %path.display(),
                "admin API: no admin key configured; generated one and stored it in the key file"
            );
            key
        }
    };
    slot.key = key;
    Ok(Some(path))
}

/// The key in `path`, if the file exists and holds one. Tightens loose permissions.
fn read_key(path: &Path) -> Result<Option<String>, AdminKeyError> {
    let io_err = |source| AdminKeyError::Io {
        path: path.to_owned(),
        source,
    };
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_err(err)),
    };
    let key = text.trim();
    if key.is_empty() {
        return Ok(None);
    }
    let mode = fs::metadata(path).map_err(io_err)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "admin key file is readable by others; setting mode 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    }
    Ok(Some(key.to_owned()))
}

/// Writes `key` to `path` with mode 0600, atomically (temporary file, then rename).
fn write_key(path: &Path, key: &str) -> Result<(), AdminKeyError> {
    write_private(path, &format!("{key}\n")).map_err(|source| AdminKeyError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `text` to `path` with mode 0600, atomically (temporary file, synced, then renamed),
/// creating the directory when missing. For secrets: the admin key, the generated TLS key.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}
