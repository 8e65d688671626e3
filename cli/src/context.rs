//! Resolves the global options into a [`Ctx`]: server URLs with their environment
//! fallbacks, the admin key (flag, env, the config file's context, then the gateway's
//! generated key file: `model::admin_key`, shared with `apisix-tui`), the TLS settings
//! (`model::client::tls`, also shared), output format, colour; and builds the API clients.
//! Precedence for server, key, control URL and each TLS setting: flag > environment >
//! context > default.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use model::admin_key::{find_admin_key, KeyLookup};
use model::client::tls::{self as client_tls, ClientTls};
use model::client::{AdminClient, ControlClient, DEFAULT_ADMIN_URL, DEFAULT_CONTROL_URL};

use crate::args::{GlobalArgs, OutputFormat};
use crate::config::{ConfigFile, NamedContext};

/// The resolved global options.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub server: String,
    pub admin_key: Option<String>,
    /// Where the key came from, for `ping`.
    pub key_source: String,
    pub control: String,
    pub output: OutputFormat,
    pub timeout: Duration,
    pub color: bool,
    /// TLS for `https://` URLs.
    pub tls: ClientTls,
}

impl Ctx {
    /// Resolves `global` against the process environment, the config file's context and the
    /// working directory.
    pub fn resolve(global: &GlobalArgs) -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        let context = match crate::config::path(global.config.as_deref(), &env) {
            Some(path) => ConfigFile::load(&path)?
                .select(global.context.as_deref(), &path)?
                .cloned(),
            None => None,
        };
        Ok(Self::resolve_with(
            global,
            &env,
            context.as_ref(),
            Path::new("."),
        ))
    }

    /// Like [`Ctx::resolve`] with an explicit environment, context and working directory.
    pub fn resolve_with(
        global: &GlobalArgs,
        env: &dyn Fn(&str) -> Option<String>,
        context: Option<&NamedContext>,
        cwd: &Path,
    ) -> Self {
        let env_nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let from_context = |field: fn(&NamedContext) -> &Option<String>| {
            context
                .and_then(|c| field(c).clone())
                .filter(|v| !v.is_empty())
        };
        let server = global
            .server
            .clone()
            .or_else(|| env_nonempty("APISIX_ADMIN_URL"))
            .or_else(|| env_nonempty("ADC_SERVER"))
            .or_else(|| from_context(|c| &c.server))
            .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned());
        let control = global
            .control
            .clone()
            .or_else(|| env_nonempty("APISIX_CONTROL_URL"))
            .or_else(|| from_context(|c| &c.control))
            .unwrap_or_else(|| DEFAULT_CONTROL_URL.to_owned());
        let (admin_key, key_source) = resolve_key(global, &env_nonempty, context, cwd);
        let tls = resolve_tls(global, &env_nonempty, context, cwd);
        let color = !global.no_color
            && env("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Ctx {
            server,
            admin_key,
            key_source,
            control,
            output: global.output,
            timeout: global.timeout,
            color,
            tls,
        }
    }

    /// An Admin API client.
    pub fn admin(&self) -> anyhow::Result<AdminClient> {
        Ok(AdminClient::with_tls(
            &self.server,
            self.admin_key.clone(),
            self.timeout,
            &self.tls,
        )?)
    }

    /// A Control API client.
    pub fn control(&self) -> anyhow::Result<ControlClient> {
        Ok(ControlClient::with_tls(
            &self.control,
            self.timeout,
            &self.tls,
        )?)
    }

    /// Whether output is for scripts (json/yaml).
    pub fn machine(&self) -> bool {
        matches!(self.output, OutputFormat::Json | OutputFormat::Yaml)
    }
}

/// The admin key and where it came from, by `model::admin_key`'s precedence (the README's:
/// flag, environment, context, generated key file); `none` when no source has one.
fn resolve_key(
    global: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
    context: Option<&NamedContext>,
    cwd: &Path,
) -> (Option<String>, String) {
    let lookup = KeyLookup {
        flag: global.admin_key.as_deref(),
        env,
        context: context.and_then(|c| Some((c.name.as_str(), c.admin_key.as_deref()?))),
        cwd,
    };
    match find_admin_key(&lookup) {
        Some(found) => (Some(found.key), found.source.to_string()),
        None => (None, "none".into()),
    }
}

/// An environment holding only `vars`, for tests of the environment lookups.
#[cfg(test)]
pub(crate) fn fake_env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// The TLS settings: each flag, else its ADC environment variable, else the context; the
/// gateway's generated certificate on this host is trusted when no CA file is set.
fn resolve_tls(
    global: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
    context: Option<&NamedContext>,
    cwd: &Path,
) -> ClientTls {
    let file = |flag: &Option<std::path::PathBuf>,
                var: &str,
                field: fn(&NamedContext) -> &Option<std::path::PathBuf>| {
        flag.clone()
            .or_else(|| env(var).map(Into::into))
            .or_else(|| context.and_then(|c| field(c).clone()))
    };
    let skip_verify = global.tls.tls_skip_verify
        || client_tls::env_flag(env(client_tls::SKIP_VERIFY_ENV))
        || context.is_some_and(|c| c.tls.tls_skip_verify);
    ClientTls {
        ca_cert_file: file(&global.tls.ca_cert_file, client_tls::CA_CERT_ENV, |c| {
            &c.tls.ca_cert_file
        }),
        client_cert_file: file(
            &global.tls.tls_client_cert_file,
            client_tls::CLIENT_CERT_ENV,
            |c| &c.tls.tls_client_cert_file,
        ),
        client_key_file: file(
            &global.tls.tls_client_key_file,
            client_tls::CLIENT_KEY_ENV,
            |c| &c.tls.tls_client_key_file,
        ),
        skip_verify,
        generated_cert: client_tls::find_generated_cert(env, cwd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::Parser;

    fn global(args: &[&str]) -> GlobalArgs {
        let mut argv = vec!["apisixctl"];
        argv.extend_from_slice(args);
        argv.push("status");
        Cli::try_parse_from(argv).expect("parses").global
    }

    #[test]
    fn flags_win_over_environment_and_adc_names_are_fallbacks() {
        let env = fake_env(&[
            ("ADC_SERVER", "http://adc:9180"),
            ("ADC_TOKEN", "adc-token"),
        ]);
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Ctx::resolve_with(&global(&[]), &env, None, dir.path());
        assert_eq!(ctx.server, "http://adc:9180");
        assert_eq!(ctx.admin_key.as_deref(), Some("adc-token"));
        assert_eq!(ctx.control, DEFAULT_CONTROL_URL);
        let ctx = Ctx::resolve_with(
            &global(&["--server", "http://x:1", "--admin-key", "k"]),
            &env,
            None,
            dir.path(),
        );
        assert_eq!(ctx.server, "http://x:1");
        assert_eq!(ctx.admin_key.as_deref(), Some("k"));
    }

    #[test]
    fn key_file_in_conf_then_prefix_is_read() {
        let cwd = tempfile::tempdir().expect("tempdir");
        let prefix = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(prefix.path().join("conf")).expect("mkdir");
        std::fs::write(prefix.path().join("conf/admin_key"), "from-prefix\n").expect("write");
        let prefix_str = prefix.path().to_str().expect("utf-8").to_owned();
        let env = move |n: &str| (n == "APISIX_PREFIX").then(|| prefix_str.clone());
        let ctx = Ctx::resolve_with(&global(&[]), &env, None, cwd.path());
        assert_eq!(ctx.admin_key.as_deref(), Some("from-prefix"));

        std::fs::create_dir_all(cwd.path().join("conf")).expect("mkdir");
        std::fs::write(cwd.path().join("conf/admin_key"), "from-cwd").expect("write");
        let ctx = Ctx::resolve_with(&global(&[]), &env, None, cwd.path());
        assert_eq!(ctx.admin_key.as_deref(), Some("from-cwd"));
    }

    #[test]
    fn context_fills_what_flags_and_environment_leave_unset() {
        let ctx_entry = NamedContext {
            name: "prod".into(),
            server: Some("http://ctx:9180".into()),
            admin_key: Some("ctx-key".into()),
            control: Some("http://ctx:9090".into()),
            tls: crate::config::TlsValues {
                ca_cert_file: Some("/ctx/ca.pem".into()),
                tls_skip_verify: true,
                ..Default::default()
            },
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let env = fake_env(&[("APISIX_ADMIN_URL", "http://env:9180")]);
        let ctx = Ctx::resolve_with(
            &global(&["--control", "http://flag:9090"]),
            &env,
            Some(&ctx_entry),
            dir.path(),
        );
        assert_eq!(ctx.server, "http://env:9180");
        assert_eq!(ctx.control, "http://flag:9090");
        assert_eq!(ctx.admin_key.as_deref(), Some("ctx-key"));
        assert_eq!(ctx.key_source, "context prod");
        assert_eq!(ctx.tls.ca_cert_file, Some("/ctx/ca.pem".into()));
        assert!(ctx.tls.skip_verify);
    }

    #[test]
    fn tls_flags_win_over_adc_variables_and_the_generated_cert_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = |n: &str| match n {
            "ADC_CA_CERT_FILE" => Some("/env/ca.pem".to_owned()),
            "ADC_TLS_CLIENT_CERT_FILE" => Some("/env/c.pem".to_owned()),
            "ADC_TLS_SKIP_VERIFY" => Some("true".to_owned()),
            _ => None,
        };
        let ctx = Ctx::resolve_with(
            &global(&["--ca-cert-file", "/flag/ca.pem"]),
            &env,
            None,
            dir.path(),
        );
        assert_eq!(ctx.tls.ca_cert_file, Some("/flag/ca.pem".into()));
        assert_eq!(ctx.tls.client_cert_file, Some("/env/c.pem".into()));
        assert!(ctx.tls.skip_verify);
        assert_eq!(ctx.tls.generated_cert, None);
        std::fs::create_dir_all(dir.path().join("conf")).expect("mkdir");
        std::fs::write(dir.path().join("conf/admin_ssl.crt"), "x").expect("write");
        let ctx = Ctx::resolve_with(&global(&[]), &|_| None, None, dir.path());
        assert_eq!(
            ctx.tls.generated_cert,
            Some(dir.path().join("conf/admin_ssl.crt"))
        );
        assert!(!ctx.tls.skip_verify);
    }
}
