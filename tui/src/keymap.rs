//! The one keymap: a table of [`Binding`]s used both to dispatch keys
//! ([`lookup`]) and to draw the footer ([`footer`]) and the help page ([`help_rows`]).
//! A binding marked `write` is hidden and refused under `--readonly`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::editor::EditOp;

/// What a key asks for; the update function gives it meaning per view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Drill down into the selected row.
    Enter,
    /// Previous view (or clear the filter).
    Back,
    /// Start typing a filter.
    Filter,
    /// Start typing a `:` command.
    Command,
    /// Fetch now.
    Refresh,
    /// Stop or resume applying fetched data.
    Freeze,
    /// Sort by the next column.
    SortNext,
    /// Reverse the sort order.
    SortReverse,
    /// Next top-level view.
    NextView,
    /// New stream route.
    New,
    /// Edit the selected route.
    Edit,
    /// Test the selected route.
    Test,
    /// Delete the route / kill the connection (asks first).
    Delete,
    /// Show the help page.
    Help,
    /// Leave the dashboard.
    Quit,
    /// Editor: next field.
    NextField,
    /// Editor: previous field.
    PrevField,
    /// Editor: save through the Admin API.
    Save,
    /// Editor: switch between the form and raw JSON.
    ToggleRaw,
    /// Editor: an editing operation on the focused text (undo, cut, paste, ...).
    EditText(EditOp),
    /// Tester: run the test.
    RunTest,
}

/// The views a binding can apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// Routes table.
    Routes,
    /// One route.
    RouteDetail,
    /// Upstreams and nodes.
    Upstreams,
    /// Live connections.
    Connections,
    /// Route editor, on the form.
    Editor,
    /// Route editor, on the raw JSON (arrows, tab and enter edit the text).
    JsonEditor,
    /// Route tester.
    Tester,
}

impl ViewKind {
    /// The title shown in the header and help.
    pub fn title(self) -> &'static str {
        match self {
            ViewKind::Routes => "Routes",
            ViewKind::RouteDetail => "Route",
            ViewKind::Upstreams => "Upstreams",
            ViewKind::Connections => "Connections",
            ViewKind::Editor | ViewKind::JsonEditor => "Editor",
            ViewKind::Tester => "Tester",
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every view, even while typing.
    Everywhere,
    /// The browsing views (routes, route, upstreams, connections).
    Browse,
    /// Only these views.
    Only(&'static [ViewKind]),
}

impl Scope {
    /// Whether a binding with this scope applies in `view`.
    pub fn applies(self, view: ViewKind) -> bool {
        match self {
            Scope::Everywhere => true,
            Scope::Browse => !matches!(
                view,
                ViewKind::Editor | ViewKind::JsonEditor | ViewKind::Tester
            ),
            Scope::Only(views) => views.contains(&view),
        }
    }
}

/// One key chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    /// The key.
    pub code: KeyCode,
    /// Whether ctrl is held.
    pub ctrl: bool,
    /// Whether alt is held.
    pub alt: bool,
}

const fn key(c: char) -> Chord {
    code(KeyCode::Char(c))
}
const fn ctrl(c: char) -> Chord {
    Chord {
        code: KeyCode::Char(c),
        ctrl: true,
        alt: false,
    }
}
const fn alt(c: char) -> Chord {
    Chord {
        code: KeyCode::Char(c),
        ctrl: false,
        alt: true,
    }
}
const fn code(code: KeyCode) -> Chord {
    Chord {
        code,
        ctrl: false,
        alt: false,
    }
}

/// One entry of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Keys that trigger it.
    pub chords: &'static [Chord],
    /// How the keys are written in the footer and help.
    pub keys: &'static str,
    /// Short footer label; empty keeps it out of the footer.
    pub label: &'static str,
    /// Help page text.
    pub help: &'static str,
    /// The action.
    pub action: Action,
    /// Where it applies.
    pub scope: Scope,
    /// Whether it changes the gateway (hidden and refused under `--readonly`).
    pub write: bool,
}

const LISTS: &[ViewKind] = &[ViewKind::Routes, ViewKind::Connections];
const ROUTE_VIEWS: &[ViewKind] = &[ViewKind::Routes, ViewKind::RouteDetail];
const KILL_VIEWS: &[ViewKind] = &[ViewKind::Connections, ViewKind::RouteDetail];
const EDITORS: &[ViewKind] = &[ViewKind::Editor, ViewKind::JsonEditor];

macro_rules! bind {
    ($chords:expr, $keys:expr, $label:expr, $help:expr, $action:ident, $scope:expr, $write:expr) => {
        Binding {
            chords: $chords,
            keys: $keys,
            label: $label,
            help: $help,
            action: Action::$action,
            scope: $scope,
            write: $write,
        }
    };
    (edit $chords:expr, $keys:expr, $label:expr, $help:expr, $op:ident) => {
        Binding {
            chords: $chords,
            keys: $keys,
            label: $label,
            help: $help,
            action: Action::EditText(EditOp::$op),
            scope: Scope::Only(EDITORS),
            write: false,
        }
    };
}

/// The keymap, in footer/help order. The first match wins.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind!(&[ctrl('c')], "^c", "", "quit at once", Quit, Scope::Everywhere, false),
    bind!(&[key('j'), code(KeyCode::Down)], "j/↓", "", "move down", Down, Scope::Browse, false),
    bind!(&[key('k'), code(KeyCode::Up)], "k/↑", "", "move up", Up, Scope::Browse, false),
    bind!(&[key('g'), code(KeyCode::Home)], "g", "", "first row", Top, Scope::Browse, false),
    bind!(&[key('G'), code(KeyCode::End)], "G", "", "last row", Bottom, Scope::Browse, false),
    bind!(&[code(KeyCode::Enter)], "enter", "open", "open the selected row", Enter, Scope::Browse, false),
    bind!(&[code(KeyCode::Esc)], "esc", "back", "back / clear filter", Back, Scope::Browse, false),
    bind!(&[key('/')], "/", "filter", "filter rows", Filter, Scope::Browse, false),
    bind!(&[key('s')], "s", "sort", "sort by next column", SortNext, Scope::Only(LISTS), false),
    bind!(&[key('S')], "S", "", "reverse sort order", SortReverse, Scope::Only(LISTS), false),
    bind!(&[key('n')], "n", "new", "new stream route", New, Scope::Only(&[ViewKind::Routes]), true),
    bind!(&[key('e')], "e", "edit", "edit the route", Edit, Scope::Only(ROUTE_VIEWS), true),
    bind!(&[key('t')], "t", "test", "test the route", Test, Scope::Only(ROUTE_VIEWS), false),
    bind!(&[ctrl('d')], "^d", "delete", "delete the route (asks)", Delete, Scope::Only(&[ViewKind::Routes]), true),
    bind!(&[ctrl('d')], "^d", "kill", "kill the connection (asks)", Delete, Scope::Only(KILL_VIEWS), true),
    bind!(&[key('r')], "r", "", "refresh now", Refresh, Scope::Browse, false),
    bind!(&[key('f')], "f", "freeze", "freeze / resume updates", Freeze, Scope::Browse, false),
    bind!(&[code(KeyCode::Tab)], "tab", "", "next view", NextView, Scope::Browse, false),
    bind!(&[key(':')], ":", "cmd", ":routes :upstreams :conns :q", Command, Scope::Browse, false),
    bind!(&[key('?')], "?", "help", "this help", Help, Scope::Browse, false),
    bind!(&[key('q')], "q", "quit", "quit", Quit, Scope::Browse, false),
    bind!(&[code(KeyCode::Tab), code(KeyCode::Down)], "tab/↓", "next", "editor: next field", NextField, Scope::Only(&[ViewKind::Editor]), false),
    bind!(&[code(KeyCode::BackTab), code(KeyCode::Up)], "S-tab/↑", "prev", "editor: previous field", PrevField, Scope::Only(&[ViewKind::Editor]), false),
    bind!(&[ctrl('s')], "^s", "save", "editor: save (Admin API PUT)", Save, Scope::Only(EDITORS), true),
    bind!(&[ctrl('t')], "^t", "raw json", "editor: form / raw JSON", ToggleRaw, Scope::Only(EDITORS), false),
    bind!(edit &[ctrl('z')], "^z", "undo", "editor: undo", Undo),
    bind!(edit &[ctrl('r')], "^r", "", "editor: redo", Redo),
    bind!(edit &[ctrl('a')], "^a", "", "editor: select all", SelectAll),
    bind!(edit &[ctrl('x')], "^x", "", "editor: cut", Cut),
    bind!(edit &[alt('c')], "M-c", "", "editor: copy", Copy),
    bind!(edit &[ctrl('v')], "^v", "", "editor: paste", Paste),
    bind!(edit &[ctrl('d')], "^d", "", "editor: delete the line", DeleteLine),
    bind!(&[code(KeyCode::Enter)], "enter", "run", "tester: run the test", RunTest, Scope::Only(&[ViewKind::Tester]), false),
    bind!(&[code(KeyCode::Esc)], "esc", "back", "editor/tester: back", Back, Scope::Only(&[ViewKind::Editor, ViewKind::JsonEditor, ViewKind::Tester]), false),
];

fn matches(chord: &Chord, event: &KeyEvent) -> bool {
    let ctrl_held = event.modifiers.contains(KeyModifiers::CONTROL);
    let alt_held = event.modifiers.contains(KeyModifiers::ALT);
    // A chord without alt also takes alt+key: a terminal reads a quick `esc` then `:` as
    // alt-`:`, which must still open the prompt.
    chord.ctrl == ctrl_held && (alt_held || !chord.alt) && chord.code == event.code
}

/// The action bound to `event` in `view`, honouring `readonly`.
pub fn lookup(event: &KeyEvent, view: ViewKind, readonly: bool) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| b.scope.applies(view) && !(readonly && b.write))
        .find(|b| b.chords.iter().any(|c| matches(c, event)))
        .map(|b| b.action)
}

/// `(keys, label)` pairs for the footer of `view`.
pub fn footer(view: ViewKind, readonly: bool) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| !b.label.is_empty() && b.scope.applies(view) && !(readonly && b.write))
        .map(|b| (b.keys, b.label))
        .collect()
}

/// Whether a binding works only in the editor (which `--readonly` never opens).
fn editor_only(b: &Binding) -> bool {
    matches!(b.scope, Scope::Only(views) if views.iter().all(|v| EDITORS.contains(v)))
}

/// `(keys, help, where)` rows for the help page; under `--readonly` without the write keys
/// and the editor's keys.
pub fn help_rows(readonly: bool) -> Vec<(&'static str, &'static str, String)> {
    BINDINGS
        .iter()
        .filter(|b| !(readonly && (b.write || editor_only(b))))
        .map(|b| {
            let scope = match b.scope {
                Scope::Everywhere => "everywhere".to_owned(),
                Scope::Browse => "lists".to_owned(),
                Scope::Only(views) => {
                    let mut titles: Vec<String> = Vec::new();
                    for title in views.iter().map(|v| v.title().to_lowercase()) {
                        if !titles.contains(&title) {
                            titles.push(title);
                        }
                    }
                    titles.join(", ")
                }
            };
            (b.keys, b.help, scope)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `code` with `mods` does in `view` (read-write unless `readonly`).
    fn key(code: KeyCode, mods: KeyModifiers, view: ViewKind, readonly: bool) -> Option<Action> {
        lookup(&KeyEvent::new(code, mods), view, readonly)
    }

    /// Each row: key, modifiers, view, read-only, the action expected.
    fn assert_bindings(rows: &[(KeyCode, KeyModifiers, ViewKind, bool, Option<Action>)]) {
        for &(code, mods, view, readonly, want) in rows {
            assert_eq!(
                key(code, mods, view, readonly),
                want,
                "{mods:?}+{code:?} in {view:?} (readonly: {readonly})"
            );
        }
    }

    #[test]
    fn ctrl_d_means_delete_in_routes_and_nothing_when_readonly() {
        let d = KeyCode::Char('d');
        let ctrl = KeyModifiers::CONTROL;
        assert_bindings(&[
            (d, ctrl, ViewKind::Routes, false, Some(Action::Delete)),
            (d, ctrl, ViewKind::Routes, true, None),
            (d, ctrl, ViewKind::Upstreams, false, None),
        ]);
    }

    #[test]
    fn letters_are_not_bound_in_the_editor() {
        let (q, c) = (KeyCode::Char('q'), KeyCode::Char('c'));
        let none = KeyModifiers::NONE;
        assert_bindings(&[
            (q, none, ViewKind::Editor, false, None),
            (q, none, ViewKind::Routes, false, Some(Action::Quit)),
            (c, none, ViewKind::JsonEditor, false, None),
            (
                c,
                KeyModifiers::ALT,
                ViewKind::JsonEditor,
                false,
                Some(Action::EditText(EditOp::Copy)),
            ),
        ]);
    }

    #[test]
    fn arrows_move_between_fields_on_the_form_and_in_the_text_on_raw_json() {
        let none = KeyModifiers::NONE;
        assert_bindings(&[
            (
                KeyCode::Down,
                none,
                ViewKind::Editor,
                false,
                Some(Action::NextField),
            ),
            (KeyCode::Down, none, ViewKind::JsonEditor, false, None),
            (KeyCode::Tab, none, ViewKind::JsonEditor, false, None),
            (
                KeyCode::Char('d'),
                KeyModifiers::CONTROL,
                ViewKind::JsonEditor,
                false,
                Some(Action::EditText(EditOp::DeleteLine)),
            ),
        ]);
    }

    #[test]
    fn readonly_footer_has_no_write_keys() {
        let labels: Vec<_> = footer(ViewKind::Routes, true)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert!(!labels.contains(&"new") && !labels.contains(&"delete"));
        assert!(labels.contains(&"filter"));
        let rw: Vec<_> = footer(ViewKind::Routes, false)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert!(rw.contains(&"new") && rw.contains(&"delete"));
    }
}

#[cfg(test)]
mod readme {
    use super::BINDINGS;

    #[test]
    fn readme_documents_every_binding() {
        let readme = include_str!("../README.md");
        for b in BINDINGS {
            assert!(readme.contains(b.help), "README lacks {:?}", b.help);
        }
    }
}
