//! `apisix-tui`: the terminal dashboard of the gateway (DESIGN.md §6).
//!
//! Layout (data flows top to bottom):
//! - [`options`]: command-line options (`--server`, `--admin-key`, `--control`, `--readonly`, `--refresh`).
//! - [`admin_lists`]: serde views of the Admin API lists (the Control API's are `model::control`'s).
//! - [`source`]: the [`source::DataSource`] trait and its implementation over `model::client` (snapshot, writes, route test).
//! - [`fetcher`]: the background fetch task publishing the latest snapshot in a `watch` channel.
//! - [`event`]: [`event::Event`]s into the state machine and [`event::Effect`]s out of it.
//! - [`keymap`]: the single key table used for dispatch, footer and help.
//! - [`app`]: the [`app::App`] state, [`app::Mode`], rows per view and `handle_event`.
//! - [`editor`]: the route editor's form/raw-JSON state and the Admin API body it builds.
//! - [`render`] and [`views`]: `render(frame, &App)`, one file per view.
//! - [`units`]: bytes, rates, ages and text sparklines.
//! - [`runtime`]: terminal, tokio runtime, signal handling and the UI loop.

pub mod admin_lists;
pub mod app;
pub mod editor;
pub mod event;
pub mod fetcher;
pub mod keymap;
pub mod options;
pub mod render;
pub mod runtime;
pub mod source;
pub mod tty;
pub mod units;
pub mod views;

pub use app::{handle_event, App, AppConfig};
pub use options::Options;
pub use runtime::{run, run_with, TuiError};
