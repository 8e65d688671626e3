//! The `apisix-tui` binary: parse options, run the dashboard. It never logs to the
//! terminal it draws on.

use clap::{CommandFactory, Parser};

fn main() -> anyhow::Result<()> {
    let options = apisix_tui::Options::parse();
    if let Some(dir) = &options.generate_docs {
        program_docs::write(apisix_tui::Options::command(), dir)?;
        return Ok(());
    }
    apisix_tui::run(options)?;
    Ok(())
}
