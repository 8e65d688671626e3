//! `apisixctl`: the command-line client of the gateway's Admin and Control APIs.
//!
//! Layout: [`args`] (the clap command tree) → [`context`] (resolved global options, clients)
//! → [`commands`] (one module per command family). Helpers with one job each: [`body`]
//! (flags → request bodies), [`config`] (named contexts), [`files`] (standalone files), [`compare`] (unchanged/diff rules,
//! selectors), [`views`] (table columns), [`output`] (tables, JSON/YAML, colour).

mod args;
mod body;
mod commands;
mod compare;
mod config;
mod context;
mod files;
mod output;
mod views;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let error_code = commands::error_exit_code(&cli.command);
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error_code)
        }
    }
}
