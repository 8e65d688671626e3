//! The config file with named contexts (kubectl style): where it lives
//! (`--config`, else `$XDG_CONFIG_HOME/apisixctl/config.yaml`, else
//! `~/.config/apisixctl/config.yaml`), its YAML shape, loading and saving. A context holds a
//! server URL, an admin key, a Control API URL and the TLS settings (CA, client certificate and
//! key as absolute paths, skip-verify); flags and environment variables win over it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    /// The context used when `--context` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Every named context, in file order.
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
}

/// One named context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NamedContext {
    pub name: String,
    /// Admin API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Admin API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_key: Option<String>,
    /// Control API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The TLS flags stored with `config set-context`.
    #[serde(flatten)]
    pub tls: TlsValues,
}

/// The client's TLS settings: the global flags of every command, and (the same keys in kebab
/// case) the values a context stores.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TlsValues {
    /// Trust only this CA (PEM) for https:// Admin and Control URLs [env: ADC_CA_CERT_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS [env: ADC_TLS_CLIENT_CERT_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_cert_file: Option<PathBuf>,
    /// Key of the client certificate (PEM) [env: ADC_TLS_CLIENT_KEY_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_key_file: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only) [env: ADC_TLS_SKIP_VERIFY=true]
    #[arg(long, global = true)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_skip_verify: bool,
}

/// Errors reading or writing the config file.
#[derive(Debug)]
pub enum ConfigError {
    Read(PathBuf, std::io::Error),
    Parse(PathBuf, serde_norway::Error),
    Write(PathBuf, std::io::Error),
    UnknownContext(String, PathBuf),
    NoPath,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(p, e) => write!(f, "reading {}: {e}", p.display()),
            Self::Parse(p, e) => write!(f, "parsing {}: {e}", p.display()),
            Self::Write(p, e) => write!(f, "writing {}: {e}", p.display()),
            Self::UnknownContext(name, p) => {
                write!(f, "no context named {name:?} in {}", p.display())
            }
            Self::NoPath => write!(
                f,
                "no config file location: set --config, $XDG_CONFIG_HOME or $HOME"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The config file path: `--config`, `$XDG_CONFIG_HOME/apisixctl/config.yaml`, or
/// `$HOME/.config/apisixctl/config.yaml`.
pub fn path(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_owned());
    }
    let nonempty = |n: &str| env(n).filter(|v| !v.is_empty());
    let base = nonempty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("apisixctl").join("config.yaml"))
}

impl ConfigFile {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(ConfigFile::default()),
            Ok(text) => {
                serde_norway::from_str(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(ConfigError::Read(path.to_owned(), e)),
        }
    }

    /// Writes the file (creating its directory), readable by the owner only: it holds keys.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let err = |e| ConfigError::Write(path.to_owned(), e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let text =
            serde_norway::to_string(self).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)
    }

    /// Sets the TLS values given on context `name` (which must exist).
    pub fn set_tls(&mut self, name: &str, tls: &TlsValues) {
        if let Some(c) = self.contexts.iter_mut().find(|c| c.name == name) {
            let put = |slot: &mut Option<PathBuf>, v: &Option<PathBuf>| {
                if v.is_some() {
                    slot.clone_from(v);
                }
            };
            put(&mut c.tls.ca_cert_file, &tls.ca_cert_file);
            put(&mut c.tls.tls_client_cert_file, &tls.tls_client_cert_file);
            put(&mut c.tls.tls_client_key_file, &tls.tls_client_key_file);
            c.tls.tls_skip_verify |= tls.tls_skip_verify;
        }
    }

    /// The context named `name`.
    pub fn get(&self, name: &str) -> Option<&NamedContext> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// The context to use: `name` when given (an error when absent), else the current one.
    pub fn select(
        &self,
        name: Option<&str>,
        path: &Path,
    ) -> Result<Option<&NamedContext>, ConfigError> {
        match name.or(self.current_context.as_deref()) {
            None => Ok(None),
            Some(n) => self
                .get(n)
                .map(Some)
                .ok_or_else(|| ConfigError::UnknownContext(n.to_owned(), path.to_owned())),
        }
    }

    /// Creates context `name` or updates the fields given; returns whether it was created.
    pub fn set(
        &mut self,
        name: &str,
        server: Option<&str>,
        admin_key: Option<&str>,
        control: Option<&str>,
    ) -> bool {
        let created = self.get(name).is_none();
        if created {
            self.contexts.push(NamedContext {
                name: name.to_owned(),
                ..NamedContext::default()
            });
        }
        if let Some(c) = self.contexts.iter_mut().find(|c| c.name == name) {
            let put = |slot: &mut Option<String>, v: Option<&str>| {
                if let Some(v) = v {
                    *slot = Some(v.to_owned());
                }
            };
            put(&mut c.server, server);
            put(&mut c.admin_key, admin_key);
            put(&mut c.control, control);
        }
        created
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::fake_env;

    #[test]
    fn path_prefers_flag_then_xdg_then_home() {
        let env = fake_env(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(
            path(Some(Path::new("/f.yaml")), &env),
            Some(PathBuf::from("/f.yaml"))
        );
        assert_eq!(
            path(None, &env),
            Some(PathBuf::from("/xdg/apisixctl/config.yaml"))
        );
        let home = fake_env(&[("HOME", "/home/u")]);
        assert_eq!(
            path(None, &home),
            Some(PathBuf::from("/home/u/.config/apisixctl/config.yaml"))
        );
        assert_eq!(path(None, &|_| None), None);
    }

    #[test]
    fn set_creates_then_updates_only_given_fields_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub/config.yaml");
        let mut cfg = ConfigFile::load(&file).expect("missing file is empty");
        assert!(cfg.set("prod", Some("http://p:9180"), Some("k1"), None));
        assert!(!cfg.set("prod", None, None, Some("http://p:9090")));
        cfg.current_context = Some("prod".into());
        cfg.save(&file).expect("save");
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(text.contains("current-context: prod"), "{text}");
        assert!(text.contains("admin-key: k1"), "{text}");
        let back = ConfigFile::load(&file).expect("load");
        assert_eq!(back, cfg);
        let prod = back.select(None, &file).expect("known").expect("current");
        assert_eq!(prod.control.as_deref(), Some("http://p:9090"));
        assert!(back.select(Some("dev"), &file).is_err());
    }
}
