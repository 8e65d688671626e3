//! Command dispatch: each handler returns the process exit code on success (`0`, or `1` for
//! "ran fine but the answer is no", e.g. differences in `diff`), and an error otherwise,
//! which `main` prints as `error: ...` and turns into [`error_exit_code`].

mod config_cmd;
mod control;
mod declarative;
mod edit;
mod health_dns;
mod matching;
mod misc;
mod resource;
mod route_explain;
mod route_report;
mod route_summary;
mod route_test;
mod route_tls;
mod shadowing;
mod upsert;
mod validate;

use model::ResourceKind;

use serde_json::Value;

use crate::args::{Cli, Command, MetadataAction, StreamRouteAction, WriteAction};
use crate::body;
use crate::context::Ctx;

/// The exit code for a failed `command`: 2 for `diff` (1 means "differences"), else 1.
pub fn error_exit_code(command: &Command) -> u8 {
    match command {
        Command::Diff(_) => 2,
        _ => 1,
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Config { action } => return config_cmd::run(&cli.global, action),
        Command::GenerateDocs { dir } => return misc::generate_docs(dir),
        _ => {}
    }
    let ctx = Ctx::resolve(&cli.global)?;
    match cli.command {
        Command::StreamRoute { action } => stream_route(&ctx, action).await,
        Command::Upstream { action } => {
            write(&ctx, ResourceKind::Upstreams, action, body::upstream).await
        }
        Command::Service { action } => {
            write(&ctx, ResourceKind::Services, action, body::service).await
        }
        Command::Ssl { action } => write(&ctx, ResourceKind::Ssls, action, body::ssl).await,
        Command::PluginMetadata { action } => match action {
            MetadataAction::Common(a) => {
                resource::common(&ctx, ResourceKind::PluginMetadata, a).await
            }
            MetadataAction::Put { id, file } => {
                resource::put(
                    &ctx,
                    ResourceKind::PluginMetadata,
                    &id,
                    body::from_file(&file)?,
                )
                .await
            }
        },
        Command::Plugins { action } => misc::plugins(&ctx, action).await,
        Command::Apply(a) => declarative::apply(&ctx, &a).await,
        Command::Diff(a) => declarative::diff(&ctx, &a).await,
        Command::Sync(a) => declarative::sync(&ctx, &a).await,
        Command::Dump(a) => declarative::dump(&ctx, &a).await,
        Command::Validate(a) => validate::run(&ctx, &a),
        Command::Match(a) => matching::run(&ctx, &a).await,
        Command::Connections { action } => control::connections(&ctx, action).await,
        Command::Health => control::health(&ctx).await,
        Command::Status => control::status(&ctx).await,
        Command::Ping => control::ping(&ctx).await,
        Command::Config { action } => config_cmd::run(&cli.global, &action),
        Command::Completion { shell } => misc::completion(shell),
        Command::GenerateDocs { dir } => misc::generate_docs(&dir),
        Command::Dashboard { args } => misc::dashboard(&ctx, &args),
    }
}

async fn stream_route(ctx: &Ctx, action: StreamRouteAction) -> anyhow::Result<u8> {
    match action {
        StreamRouteAction::Write(action) => {
            write(ctx, ResourceKind::StreamRoutes, action, body::stream_route).await
        }
        StreamRouteAction::Test(args) => route_test::run(ctx, &args).await,
        StreamRouteAction::Stats { id } => control::route_stats(ctx, id.as_deref()).await,
    }
}

/// A resource's common, put or create action; `body` builds the request body from its flags.
async fn write<B: clap::Args>(
    ctx: &Ctx,
    kind: ResourceKind,
    action: WriteAction<B>,
    body: fn(&B) -> anyhow::Result<Value>,
) -> anyhow::Result<u8> {
    match action {
        WriteAction::Common(a) => resource::common(ctx, kind, a).await,
        WriteAction::Put { id, body: flags } => resource::put(ctx, kind, &id, body(&flags)?).await,
        WriteAction::Create { body: flags } => resource::create(ctx, kind, body(&flags)?).await,
    }
}
