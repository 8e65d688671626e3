//! Command-line options of `apisix-tui` (also used by `apisixctl dashboard`), with the same
//! defaults and environment variables as `apisixctl`.

use std::path::Path;

use clap::Parser;

/// `apisix-tui` options.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "apisix-tui",
    version,
    about = "Interactive dashboard for the APISIX-compatible L4 gateway"
)]
pub struct Options {
    /// Admin API base URL.
    #[arg(
        long,
        env = "APISIX_ADMIN_URL",
        default_value = "http://127.0.0.1:9180"
    )]
    pub server: String,
    /// Admin API key (X-API-KEY); falls back to ./conf/admin_key when present.
    #[arg(long, env = "APISIX_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Control API base URL.
    #[arg(
        long,
        env = "APISIX_CONTROL_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    pub control: String,
    /// Hide and refuse every write action (edit, delete, kill).
    #[arg(long)]
    pub readonly: bool,
    /// Refresh period in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub refresh: u64,
}

impl Options {
    /// The admin key: the option, else the first line of `<dir>/conf/admin_key` if readable.
    pub fn resolve_admin_key(&self, dir: &Path) -> Option<String> {
        if let Some(key) = self.admin_key.as_ref().filter(|k| !k.is_empty()) {
            return Some(key.clone());
        }
        let text = std::fs::read_to_string(dir.join("conf").join("admin_key")).ok()?;
        let key = text.lines().next().unwrap_or_default().trim().to_owned();
        (!key.is_empty()).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Options::command().debug_assert();
    }

    #[test]
    fn refresh_below_100ms_is_refused() {
        assert!(Options::try_parse_from(["apisix-tui", "--refresh", "10"]).is_err());
        let o = Options::try_parse_from(["apisix-tui", "--refresh", "250", "--readonly"])
            .expect("valid flags");
        assert_eq!((o.refresh, o.readonly), (250, true));
    }

    #[test]
    fn admin_key_falls_back_to_conf_file() {
        let dir = std::env::temp_dir().join(format!("apisix-tui-key-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf")).expect("temp dir");
        std::fs::write(dir.join("conf/admin_key"), "s3cret\n").expect("write key");
        let mut o = Options::try_parse_from(["apisix-tui"]).expect("defaults");
        o.admin_key = None;
        assert_eq!(o.resolve_admin_key(&dir).as_deref(), Some("s3cret"));
        o.admin_key = Some("flag".into());
        assert_eq!(o.resolve_admin_key(&dir).as_deref(), Some("flag"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
