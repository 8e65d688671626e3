//! Where `apisixctl` and `apisix-tui` find the Admin API key, in the README's order: the
//! `--admin-key` flag, then the environment (`APISIX_ADMIN_KEY`, then ADC's `ADC_TOKEN`), then
//! the selected context of `apisixctl`'s config file, then the key the gateway generated at
//! first start (`./conf/admin_key`, then `$APISIX_PREFIX/conf/admin_key`). Empty values count
//! as unset. The environment and the working directory are parameters, so tests pass their own.

use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variables read for the key, in order.
pub const KEY_ENV_VARS: [&str; 2] = ["APISIX_ADMIN_KEY", "ADC_TOKEN"];

/// Where a key came from (shown by `apisixctl ping`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--admin-key`.
    Flag,
    /// One of [`KEY_ENV_VARS`].
    Env(&'static str),
    /// The named context of the config file.
    Context(String),
    /// A generated key file.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Flag => f.write_str("--admin-key"),
            KeySource::Env(name) => write!(f, "${name}"),
            KeySource::Context(name) => write!(f, "context {name}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A key and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKey {
    /// The key.
    pub key: String,
    /// Where it came from.
    pub source: KeySource,
}

/// What the lookup may read.
pub struct KeyLookup<'a> {
    /// The `--admin-key` flag.
    pub flag: Option<&'a str>,
    /// The environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The selected context's name and key, when it sets one.
    pub context: Option<(&'a str, &'a str)>,
    /// The working directory (for `./conf/admin_key`).
    pub cwd: &'a Path,
}

impl fmt::Debug for KeyLookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLookup")
            .field("context", &self.context.map(|(name, _)| name))
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

/// The generated key file candidates, in lookup order.
pub fn key_file_candidates(env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Vec<PathBuf> {
    let mut out = vec![cwd.join("conf").join("admin_key")];
    if let Some(prefix) = env("APISIX_PREFIX").filter(|p| !p.trim().is_empty()) {
        out.push(Path::new(&prefix).join("conf").join("admin_key"));
    }
    out
}

/// The admin key by the precedence above; `None` when no source has one.
pub fn find_admin_key(lookup: &KeyLookup<'_>) -> Option<AdminKey> {
    let set = |v: &str| !v.trim().is_empty();
    if let Some(key) = lookup.flag.filter(|k| set(k)) {
        return Some(AdminKey {
            key: key.to_owned(),
            source: KeySource::Flag,
        });
    }
    for name in KEY_ENV_VARS {
        if let Some(key) = (lookup.env)(name).filter(|k| set(k)) {
            return Some(AdminKey {
                key,
                source: KeySource::Env(name),
            });
        }
    }
    if let Some((name, key)) = lookup.context.filter(|(_, k)| set(k)) {
        return Some(AdminKey {
            key: key.to_owned(),
            source: KeySource::Context(name.to_owned()),
        });
    }
    key_file_candidates(lookup.env, lookup.cwd)
        .into_iter()
        .find_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let key = text.lines().map(str::trim).find(|l| !l.is_empty())?;
            Some(AdminKey {
                key: key.to_owned(),
                source: KeySource::File(path),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("model-admin-key-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf")).expect("temp dir");
        dir
    }

    #[test]
    fn flag_then_environment_then_context_then_key_files() {
        let cwd = temp_dir("order");
        std::fs::write(cwd.join("conf/admin_key"), "\nfrom-file\n").expect("write");
        let env = |n: &str| match n {
            "APISIX_ADMIN_KEY" => Some(" ".to_owned()),
            "ADC_TOKEN" => Some("adc".to_owned()),
            _ => None,
        };
        let mut lookup = KeyLookup {
            flag: Some("flag"),
            env: &env,
            context: Some(("prod", "ctx")),
            cwd: &cwd,
        };
        let found = |l: &KeyLookup<'_>| find_admin_key(l).map(|k| (k.key, k.source.to_string()));
        assert_eq!(found(&lookup), Some(("flag".into(), "--admin-key".into())));
        lookup.flag = Some("");
        assert_eq!(found(&lookup), Some(("adc".into(), "$ADC_TOKEN".into())));
        let no_env = |_: &str| None;
        lookup.env = &no_env;
        assert_eq!(found(&lookup), Some(("ctx".into(), "context prod".into())));
        lookup.context = None;
        let file = cwd.join("conf/admin_key").display().to_string();
        assert_eq!(found(&lookup), Some(("from-file".into(), file)));
        std::fs::remove_dir_all(&cwd).expect("cleanup");
    }

    #[test]
    fn prefix_key_file_comes_after_the_working_directory() {
        let cwd = temp_dir("cwd");
        let prefix = temp_dir("prefix");
        std::fs::write(prefix.join("conf/admin_key"), "from-prefix").expect("write");
        let prefix_text = prefix.display().to_string();
        let env = move |n: &str| (n == "APISIX_PREFIX").then(|| prefix_text.clone());
        let lookup = KeyLookup {
            flag: None,
            env: &env,
            context: None,
            cwd: &cwd,
        };
        let key = find_admin_key(&lookup).map(|k| k.key);
        assert_eq!(key.as_deref(), Some("from-prefix"));
        std::fs::write(cwd.join("conf/admin_key"), "from-cwd").expect("write");
        let key = find_admin_key(&lookup).map(|k| k.key);
        assert_eq!(key.as_deref(), Some("from-cwd"));
        std::fs::remove_dir_all(&cwd).expect("cleanup");
        std::fs::remove_dir_all(&prefix).expect("cleanup");
    }
}
