//! The dashboard state ([`App`]): the last snapshot, the link state, the view stack, the
//! input [`Mode`], per-list selection/filter/sort and the editor and tester states.
//! [`update::handle_event`] is the only thing that changes it; `render` only reads it.
//!
//! - [`rows`]: the filtered and sorted rows each view shows (shared by update and render).
//! - [`update`]: the event handler.

mod actions;
pub mod rows;
pub mod update;

use crate::editor::check::Known;
use crate::editor::EditorState;
use crate::keymap::ViewKind;
use crate::source::{Snapshot, TestOutcome};

pub use update::handle_event;

/// Settings the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Hide and refuse every write.
    pub readonly: bool,
    /// Refresh period in milliseconds (shown in the header).
    pub refresh_ms: u64,
    /// Admin API base URL.
    pub admin_url: String,
    /// Control API base URL (its host is where the tester connects).
    pub control_url: String,
    /// The header's TLS badge (`https`, `mTLS`); `None` for plain HTTP.
    pub tls_label: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            readonly: false,
            refresh_ms: 1000,
            admin_url: "http://127.0.0.1:9180".into(),
            control_url: "http://127.0.0.1:9090".into(),
            tls_label: None,
        }
    }
}

/// A screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Routes table.
    Routes,
    /// One route.
    RouteDetail {
        /// Its id.
        route_id: String,
    },
    /// Upstreams and nodes.
    Upstreams,
    /// Live connections.
    Connections,
    /// Route editor (state in [`App::editor`]).
    Editor,
    /// Route tester (state in [`App::tester`]).
    Tester,
}

impl View {
    /// The keymap scope of this view.
    pub fn kind(&self) -> ViewKind {
        match self {
            View::Routes => ViewKind::Routes,
            View::RouteDetail { .. } => ViewKind::RouteDetail,
            View::Upstreams => ViewKind::Upstreams,
            View::Connections => ViewKind::Connections,
            View::Editor => ViewKind::Editor,
            View::Tester => ViewKind::Tester,
        }
    }
}

/// What keys currently do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Keys go through the keymap.
    Normal,
    /// Typing a filter for the current list.
    Filter {
        /// The text so far.
        input: String,
    },
    /// Typing a `:` command.
    Command {
        /// The text so far.
        input: String,
    },
    /// Waiting for y/n on a destructive action.
    Confirm(Pending),
    /// The help page is shown.
    Help,
}

/// A destructive action awaiting confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Delete this stream route.
    DeleteRoute(String),
    /// Kill this connection.
    KillConnection(String),
}

impl Pending {
    /// The question asked.
    pub fn question(&self) -> String {
        match self {
            Pending::DeleteRoute(id) => format!("delete stream_route {id}?"),
            Pending::KillConnection(id) => format!("kill connection {id}?"),
        }
    }
}

/// The state of the link to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// No answer yet.
    Connecting,
    /// The last fetch worked.
    Connected,
    /// The last fetch failed; the fetcher keeps retrying.
    Disconnected {
        /// Why.
        error: String,
    },
}

/// Selection, filter and sort of one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListState {
    /// Selected row in the filtered, sorted rows.
    pub selected: usize,
    /// Case-insensitive substring filter.
    pub filter: String,
    /// Index into the view's sort columns.
    pub sort: usize,
    /// Descending order.
    pub descending: bool,
}

/// A one-line notice in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
}

/// The tester's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TesterState {
    /// The route under test.
    pub route_id: String,
    /// Where the test connects, if a target could be worked out.
    pub addr: Option<String>,
    /// The payload to send.
    pub payload: String,
    /// A test is in flight.
    pub running: bool,
    /// The last result.
    pub outcome: Option<TestOutcome>,
}

/// The whole dashboard state.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// Settings.
    pub config: AppConfig,
    /// The last snapshot applied.
    pub snapshot: Snapshot,
    /// Link state.
    pub link: Link,
    /// Fetched data is not applied while frozen.
    pub frozen: bool,
    /// The current view.
    pub view: View,
    /// Views to go back to.
    pub back: Vec<View>,
    /// Input mode.
    pub mode: Mode,
    /// Routes list.
    pub routes: ListState,
    /// Upstreams list.
    pub upstreams: ListState,
    /// Connections list.
    pub conns: ListState,
    /// The route detail's connections list.
    pub detail: ListState,
    /// Editor state while editing.
    pub editor: Option<EditorState>,
    /// Tester state while testing.
    pub tester: Option<TesterState>,
    /// Footer notice.
    pub notice: Option<Notice>,
    /// Set when the app should exit.
    pub quit: bool,
}

impl App {
    /// A fresh app on the routes view, waiting for data.
    pub fn new(config: AppConfig) -> Self {
        Self {
            config,
            snapshot: Snapshot::default(),
            link: Link::Connecting,
            frozen: false,
            view: View::Routes,
            back: Vec::new(),
            mode: Mode::Normal,
            routes: ListState::default(),
            upstreams: ListState::default(),
            conns: ListState::default(),
            detail: ListState::default(),
            editor: None,
            tester: None,
            notice: None,
            quit: false,
        }
    }

    /// The keymap scope of what is on screen: the editor on raw JSON is its own scope (its
    /// arrows, tab and enter edit the text).
    pub fn view_kind(&self) -> ViewKind {
        match (&self.view, &self.editor) {
            (View::Editor, Some(editor)) if editor.raw.is_some() => ViewKind::JsonEditor,
            (view, _) => view.kind(),
        }
    }

    /// Checks the editor's text again against what the snapshot knows (after an edit, or
    /// when new data arrives).
    pub(crate) fn recheck_editor(&mut self) {
        if let Some(editor) = &mut self.editor {
            editor.recheck(&Known::of(&self.snapshot));
        }
    }

    /// The list state of the current view, if it is a list.
    pub fn list_mut(&mut self) -> Option<&mut ListState> {
        match self.view {
            View::Routes => Some(&mut self.routes),
            View::RouteDetail { .. } => Some(&mut self.detail),
            View::Upstreams => Some(&mut self.upstreams),
            View::Connections => Some(&mut self.conns),
            View::Editor | View::Tester => None,
        }
    }

    /// The list state of the current view, if it is a list.
    pub fn list(&self) -> Option<&ListState> {
        match self.view {
            View::Routes => Some(&self.routes),
            View::RouteDetail { .. } => Some(&self.detail),
            View::Upstreams => Some(&self.upstreams),
            View::Connections => Some(&self.conns),
            View::Editor | View::Tester => None,
        }
    }

    pub(crate) fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    pub(crate) fn fail(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
    }
}
