//! Command-line options of `apisix-tui` (also used by `apisixctl dashboard`), with the same
//! defaults and environment variables as `apisixctl`, and the same admin key lookup.

use std::path::Path;

use clap::Parser;
use model::admin_key::{find_admin_key, KeyLookup};
use model::client::{DEFAULT_ADMIN_URL, DEFAULT_CONTROL_URL};

/// `apisix-tui` options.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "apisix-tui",
    version,
    about = "Interactive dashboard for the APISIX-compatible L4 gateway"
)]
pub struct Options {
    /// Admin API base URL.
    #[arg(long, env = "APISIX_ADMIN_URL", default_value = DEFAULT_ADMIN_URL)]
    pub server: String,
    /// Admin API key (X-API-KEY); else $APISIX_ADMIN_KEY, $ADC_TOKEN, ./conf/admin_key,
    /// $APISIX_PREFIX/conf/admin_key.
    #[arg(long)]
    pub admin_key: Option<String>,
    /// Control API base URL.
    #[arg(long, env = "APISIX_CONTROL_URL", default_value = DEFAULT_CONTROL_URL)]
    pub control: String,
    /// Hide and refuse every write action (edit, delete, kill).
    #[arg(long)]
    pub readonly: bool,
    /// Refresh period in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub refresh: u64,
}

impl Options {
    /// The admin key as `apisixctl` finds it ([`model::admin_key`]): the option, the
    /// environment, then the generated key file under `dir` or `$APISIX_PREFIX` (no config
    /// file context: `apisixctl dashboard` passes the key its context chose).
    pub fn resolve_admin_key(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        dir: &Path,
    ) -> Option<String> {
        let lookup = KeyLookup {
            flag: self.admin_key.as_deref(),
            env,
            context: None,
            cwd: dir,
        };
        find_admin_key(&lookup).map(|found| found.key)
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
        let no_env = |_: &str| None;
        assert_eq!(
            o.resolve_admin_key(&no_env, &dir).as_deref(),
            Some("s3cret")
        );
        let env = |n: &str| (n == "ADC_TOKEN").then(|| "adc".to_owned());
        assert_eq!(o.resolve_admin_key(&env, &dir).as_deref(), Some("adc"));
        o.admin_key = Some("flag".into());
        assert_eq!(o.resolve_admin_key(&env, &dir).as_deref(), Some("flag"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
