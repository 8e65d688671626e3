//! `completion`, `generate-docs` (hidden: man pages and completions for packaging),
//! `dashboard` (runs `apisix-tui` next to this binary) and `plugins`.

use anyhow::{anyhow, Context};
use clap::CommandFactory;

use crate::args::{Cli, PluginsAction};
use crate::context::Ctx;
use crate::output::{print_machine, Table};

/// `completion SHELL`.
pub fn completion(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "apisixctl",
        &mut std::io::stdout(),
    );
    Ok(0)
}

/// `generate-docs DIR` (hidden): man pages and completions, see [`program_docs`].
pub fn generate_docs(dir: &std::path::Path) -> anyhow::Result<u8> {
    program_docs::write(Cli::command(), dir).context("generate-docs")?;
    Ok(0)
}

/// `dashboard [-- ARGS]`: runs `apisix-tui` from the same directory with `--server` and
/// `--control`; the admin key goes through `APISIX_ADMIN_KEY`, not the command line.
pub fn dashboard(ctx: &Ctx, extra: &[String]) -> anyhow::Result<u8> {
    let exe = std::env::current_exe().context("locating apisixctl")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("apisixctl has no parent directory"))?;
    let tui = dir.join("apisix-tui");
    if !tui.is_file() {
        return Err(anyhow!(
            "apisix-tui not found at {} (build it with `cargo build -p apisix-tui` or install it next to apisixctl)",
            tui.display()
        ));
    }
    let mut cmd = std::process::Command::new(&tui);
    cmd.arg("--server")
        .arg(&ctx.server)
        .arg("--control")
        .arg(&ctx.control);
    let tls = &ctx.tls;
    for (flag, path) in [
        ("--ca-cert-file", &tls.ca_cert_file),
        ("--tls-client-cert-file", &tls.client_cert_file),
        ("--tls-client-key-file", &tls.client_key_file),
    ] {
        if let Some(path) = path {
            cmd.arg(flag).arg(path);
        }
    }
    if tls.skip_verify {
        cmd.arg("--tls-skip-verify");
    }
    cmd.args(extra);
    if let Some(key) = &ctx.admin_key {
        cmd.env("APISIX_ADMIN_KEY", key);
    }
    // Replace this process so the dashboard owns the terminal and its signals directly.
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    Err(anyhow!("running {}: {err}", tui.display()))
}

/// `plugins list|get`.
pub async fn plugins(ctx: &Ctx, action: PluginsAction) -> anyhow::Result<u8> {
    let admin = ctx.admin()?;
    match action {
        PluginsAction::List => {
            let names = admin.plugins_list().await?;
            if ctx.machine() {
                print_machine(&serde_json::to_value(&names)?, ctx.output)?;
            } else {
                let mut t = Table::new(&["PLUGIN"]);
                t.rows.extend(names.into_iter().map(|n| vec![n]));
                print!("{}", t.render());
            }
        }
        PluginsAction::Get { name } => {
            let schema = admin.plugin_schema(&name).await?;
            let format = if ctx.machine() {
                ctx.output
            } else {
                crate::args::OutputFormat::Json
            };
            print_machine(&schema, format)?;
        }
    }
    Ok(0)
}
