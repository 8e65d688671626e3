//! `config get-contexts|use-context|set-context|current-context|delete-context`: edits the
//! config file's named contexts. `set-context` takes its values from the global `--server`,
//! `--admin-key`, `--control` and TLS flags as typed (never from the environment); file paths
//! are stored absolute, after checking they exist. Keys are not printed: `get-contexts` shows
//! whether one is set.

use anyhow::{anyhow, bail};
use serde_json::json;

use crate::args::{ConfigAction, GlobalArgs, OutputFormat};
use crate::config::{self, ConfigFile, NamedContext, TlsValues};
use crate::output::{print_machine, Table};

/// Runs a `config` subcommand.
pub fn run(global: &GlobalArgs, action: &ConfigAction) -> anyhow::Result<u8> {
    let env = |name: &str| std::env::var(name).ok();
    let path = config::path(global.config.as_deref(), &env).ok_or(config::ConfigError::NoPath)?;
    let mut file = ConfigFile::load(&path)?;
    match action {
        ConfigAction::GetContexts => {
            let current = global
                .context
                .as_deref()
                .or(file.current_context.as_deref());
            if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
                let list: Vec<_> = file
                    .contexts
                    .iter()
                    .map(|c| {
                        json!({"name": c.name, "current": Some(c.name.as_str()) == current,
                               "server": c.server, "control": c.control,
                               "admin_key_set": c.admin_key.is_some(),
                               "ca_cert_file": c.tls.ca_cert_file,
                               "tls_client_cert_file": c.tls.tls_client_cert_file,
                               "tls_client_key_file": c.tls.tls_client_key_file,
                               "tls_skip_verify": c.tls.tls_skip_verify})
                    })
                    .collect();
                print_machine(&json!(list), global.output)?;
                return Ok(0);
            }
            if file.contexts.is_empty() {
                println!("no contexts in {}", path.display());
                return Ok(0);
            }
            let mut table =
                Table::new(&["CURRENT", "NAME", "SERVER", "CONTROL", "ADMIN-KEY", "TLS"]);
            for c in &file.contexts {
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                table.rows.push(vec![
                    if Some(c.name.as_str()) == current {
                        "*"
                    } else {
                        ""
                    }
                    .into(),
                    c.name.clone(),
                    dash(&c.server),
                    dash(&c.control),
                    if c.admin_key.is_some() { "set" } else { "-" }.into(),
                    tls_summary(c),
                ]);
            }
            print!("{}", table.render());
        }
        ConfigAction::UseContext { name } => {
            if file.get(name).is_none() {
                bail!(
                    "{}",
                    config::ConfigError::UnknownContext(name.clone(), path)
                );
            }
            file.current_context = Some(name.clone());
            file.save(&path)?;
            println!("switched to context {name:?}");
        }
        ConfigAction::SetContext { name } => {
            let tls = tls_values(global)?;
            let created = file.set(
                name,
                global.server.as_deref(),
                global.admin_key.as_deref(),
                global.control.as_deref(),
            );
            file.set_tls(name, &tls);
            file.save(&path)?;
            let verb = if created { "created" } else { "updated" };
            println!("context {name:?} {verb} in {}", path.display());
        }
        ConfigAction::CurrentContext => {
            let name = file
                .current_context
                .ok_or_else(|| anyhow!("no current context in {}", path.display()))?;
            println!("{name}");
        }
        ConfigAction::DeleteContext { name } => {
            let before = file.contexts.len();
            file.contexts.retain(|c| &c.name != name);
            if file.contexts.len() == before {
                bail!(
                    "{}",
                    config::ConfigError::UnknownContext(name.clone(), path)
                );
            }
            if file.current_context.as_deref() == Some(name.as_str()) {
                file.current_context = None;
            }
            file.save(&path)?;
            println!("context {name:?} deleted");
        }
    }
    Ok(0)
}

/// The TLS flags given to `set-context`, with file paths made absolute (each must exist).
fn tls_values(global: &GlobalArgs) -> anyhow::Result<TlsValues> {
    let absolute = |flag: &str, path: &Option<std::path::PathBuf>| -> anyhow::Result<_> {
        path.as_ref()
            .map(|p| std::fs::canonicalize(p).map_err(|e| anyhow!("{flag} {}: {e}", p.display())))
            .transpose()
    };
    Ok(TlsValues {
        ca_cert_file: absolute("--ca-cert-file", &global.tls.ca_cert_file)?,
        tls_client_cert_file: absolute("--tls-client-cert-file", &global.tls.tls_client_cert_file)?,
        tls_client_key_file: absolute("--tls-client-key-file", &global.tls.tls_client_key_file)?,
        tls_skip_verify: global.tls.tls_skip_verify,
    })
}

/// The TLS column of `get-contexts`: `skip-verify`, `ca`, `mtls`, joined, or `-`.
fn tls_summary(c: &NamedContext) -> String {
    let mut parts = Vec::new();
    if c.tls.tls_skip_verify {
        parts.push("skip-verify");
    }
    if c.tls.ca_cert_file.is_some() {
        parts.push("ca");
    }
    if c.tls.tls_client_cert_file.is_some() {
        parts.push("mtls");
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}
