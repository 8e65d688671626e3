//! Command-line options of `apisix-tui` (also used by `apisixctl dashboard`), with the same
//! defaults and environment variables as `apisixctl`, the same admin key lookup and the same
//! TLS settings (ADC's flag and variable names, `model::client::tls`).

use std::path::{Path, PathBuf};

use clap::Parser;
use model::admin_key::{find_admin_key, KeyLookup};
use model::client::tls::{self as client_tls, ClientTls};
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
    /// Trust only this CA (PEM) for https:// URLs; else the system CAs and the gateway's
    /// generated ./conf/admin_ssl.crt.
    #[arg(long, env = "ADC_CA_CERT_FILE", value_name = "FILE")]
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, env = "ADC_TLS_CLIENT_CERT_FILE", value_name = "FILE")]
    pub tls_client_cert_file: Option<PathBuf>,
    /// Key of the client certificate (PEM).
    #[arg(long, env = "ADC_TLS_CLIENT_KEY_FILE", value_name = "FILE")]
    pub tls_client_key_file: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only).
    #[arg(long, env = "ADC_TLS_SKIP_VERIFY")]
    pub tls_skip_verify: bool,
    /// Write the man page and shell completions under DIR and exit (for packaging).
    #[arg(long, hide = true, value_name = "DIR")]
    pub generate_docs: Option<PathBuf>,
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

impl Options {
    /// The TLS settings; the gateway's generated certificate under `dir` or `$APISIX_PREFIX`
    /// is trusted when no CA file is given.
    pub fn client_tls(&self, env: &dyn Fn(&str) -> Option<String>, dir: &Path) -> ClientTls {
        ClientTls {
            ca_cert_file: self.ca_cert_file.clone(),
            client_cert_file: self.tls_client_cert_file.clone(),
            client_key_file: self.tls_client_key_file.clone(),
            skip_verify: self.tls_skip_verify,
            generated_cert: client_tls::find_generated_cert(env, dir),
        }
    }

    /// The header's TLS badge: `mTLS` with a client certificate, `https` for https:// URLs
    /// (` unverified` added with `--tls-skip-verify`), none for plain HTTP.
    pub fn tls_label(&self) -> Option<String> {
        let https = [&self.server, &self.control]
            .iter()
            .any(|url| url.starts_with("https://"));
        if !https {
            return None;
        }
        let base = if self.tls_client_cert_file.is_some() {
            "mTLS"
        } else {
            "https"
        };
        Some(if self.tls_skip_verify {
            format!("{base} unverified")
        } else {
            base.to_owned()
        })
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
    fn tls_label_says_https_or_mtls_for_https_urls_only() {
        let plain = Options::try_parse_from(["apisix-tui"]).expect("defaults");
        assert_eq!(plain.tls_label(), None);
        let https =
            Options::try_parse_from(["apisix-tui", "--server", "https://gw:9180"]).expect("https");
        assert_eq!(https.tls_label().as_deref(), Some("https"));
        let mtls = Options::try_parse_from([
            "apisix-tui",
            "--control",
            "https://gw:9090",
            "--tls-client-cert-file",
            "c.pem",
            "--tls-client-key-file",
            "c.key",
            "--tls-skip-verify",
        ])
        .expect("mtls");
        assert_eq!(mtls.tls_label().as_deref(), Some("mTLS unverified"));
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
