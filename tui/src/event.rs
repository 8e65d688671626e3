//! The messages in and out of the state machine: [`Event`]s (keys, fetched data, results of
//! effects, signals) go into `handle_event`, which returns [`Effect`]s for the runtime to
//! carry out; the runtime feeds their results back as events.

use std::sync::Arc;

use crossterm::event::KeyEvent;
use serde_json::Value;

use crate::source::{Snapshot, TestOutcome, TestRequest};

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
    /// A fresh snapshot from the background fetch.
    Data(Arc<Snapshot>),
    /// The background fetch failed (gateway down); it keeps retrying.
    FetchFailed(String),
    /// A connection kill finished.
    Killed {
        /// Connection id.
        id: String,
        /// The error text on failure.
        result: Result<(), String>,
    },
    /// A route delete finished.
    Deleted {
        /// Route id.
        id: String,
        /// The error text on failure.
        result: Result<(), String>,
    },
    /// A route save finished.
    Saved {
        /// Route id.
        id: String,
        /// The server's `error_msg` on failure.
        result: Result<(), String>,
    },
    /// A route test finished.
    Tested(TestOutcome),
    /// SIGTERM / SIGINT / SIGHUP.
    Terminate,
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Fetch now instead of waiting for the next tick.
    Refresh,
    /// Close a live connection.
    Kill(String),
    /// Delete a stream route.
    DeleteRoute(String),
    /// PUT a stream route.
    SaveRoute {
        /// Route id.
        id: String,
        /// The body.
        body: Value,
    },
    /// Run a route test.
    RunTest(TestRequest),
    /// Leave the dashboard.
    Quit,
}
