//! The `apisix-tui` binary: parse options, run the dashboard. It never logs to the
//! terminal it draws on.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let options = apisix_tui::Options::parse();
    apisix_tui::run(options)?;
    Ok(())
}
