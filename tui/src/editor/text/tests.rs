//! Keys → text, cursor, selection and undo of a [`TextBuffer`].

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::TextBuffer;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn with(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

fn typing(buf: &mut TextBuffer, text: &str) {
    for c in text.chars() {
        buf.input(key(KeyCode::Char(c)));
    }
}

#[test]
fn typing_goes_in_at_the_cursor_not_at_the_end() {
    let mut buf = TextBuffer::lines("{\n  \"server_port\": 9100\n}");
    buf.input(key(KeyCode::Down));
    buf.input(key(KeyCode::End));
    for _ in 0..4 {
        buf.input(key(KeyCode::Left));
    }
    typing(&mut buf, "1");
    assert_eq!(buf.text(), "{\n  \"server_port\": 19100\n}");
    assert_eq!(buf.cursor(), (1, 18));
}

#[test]
fn backspace_and_delete_work_in_the_middle() {
    let mut buf = TextBuffer::line("127.0.0.1:80");
    buf.input(key(KeyCode::Home));
    buf.input(key(KeyCode::Delete));
    assert_eq!(buf.text(), "27.0.0.1:80");
    buf.input(key(KeyCode::End));
    buf.input(key(KeyCode::Left));
    buf.input(key(KeyCode::Backspace));
    assert_eq!(buf.text(), "27.0.0.1:0");
}

#[test]
fn enter_breaks_lines_only_in_a_many_line_buffer() {
    let mut one = TextBuffer::line("ab");
    assert!(!one.input(key(KeyCode::Enter)));
    assert_eq!(one.text(), "ab");
    let mut many = TextBuffer::lines("ab");
    many.input(key(KeyCode::Right));
    many.input(key(KeyCode::Enter));
    assert_eq!(many.text(), "a\nb");
    assert_eq!(many.cursor(), (1, 0));
}

#[test]
fn undo_and_redo_step_through_edits() {
    let mut buf = TextBuffer::line("");
    typing(&mut buf, "abc");
    buf.input(key(KeyCode::Backspace));
    assert_eq!(buf.text(), "ab");
    assert!(buf.undo());
    assert_eq!(buf.text(), "abc");
    while buf.undo() {}
    assert_eq!(buf.text(), "");
    assert!(buf.redo());
    assert_eq!(buf.text(), "a");
}

#[test]
fn shift_arrows_select_and_cut_copy_paste_move_the_selection() {
    let mut buf = TextBuffer::line("hello world");
    buf.input(key(KeyCode::Home));
    for _ in 0..5 {
        buf.input(with(KeyCode::Right, KeyModifiers::SHIFT));
    }
    assert_eq!(buf.copy().as_deref(), Some("hello"));
    assert_eq!(buf.text(), "hello world", "copy keeps the text");
    buf.input(key(KeyCode::Home));
    for _ in 0..6 {
        buf.input(with(KeyCode::Right, KeyModifiers::SHIFT));
    }
    assert_eq!(buf.cut().as_deref(), Some("hello "));
    assert_eq!(buf.text(), "world");
    buf.input(key(KeyCode::End));
    buf.paste(" hello");
    assert_eq!(buf.text(), "world hello");
    assert_eq!(buf.cut(), None, "nothing selected, nothing cut");
}

#[test]
fn typing_over_a_selection_replaces_it_and_select_all_takes_everything() {
    let mut buf = TextBuffer::lines("{\n}");
    buf.select_all();
    assert_eq!(buf.copy().as_deref(), Some("{\n}"));
    buf.select_all();
    buf.insert("[]");
    assert_eq!(buf.text(), "[]");
}

#[test]
fn delete_line_removes_the_cursor_line_and_its_break() {
    let mut buf = TextBuffer::lines("a\nb\nc");
    buf.input(key(KeyCode::Down));
    assert_eq!(buf.delete_line().as_deref(), Some("b"));
    assert_eq!(buf.text(), "a\nc");
    buf.input(key(KeyCode::Down));
    assert_eq!(buf.delete_line().as_deref(), Some("c"));
    assert_eq!(buf.text(), "a");
    assert!(buf.undo());
    assert_eq!(buf.text(), "a\nc");
    let mut one = TextBuffer::line("10.0.0.1");
    one.delete_line();
    assert_eq!(one.text(), "");
}

#[test]
fn ctrl_k_deletes_to_the_end_of_the_line_and_ctrl_arrows_move_by_word() {
    let mut buf = TextBuffer::line("10.0.0.0/8 extra");
    buf.input(key(KeyCode::Home));
    buf.input(with(KeyCode::Right, KeyModifiers::CONTROL));
    buf.input(with(KeyCode::Char('k'), KeyModifiers::CONTROL));
    assert_eq!(buf.text(), "10");
}

#[test]
fn pasted_line_breaks_become_spaces_in_a_one_line_buffer() {
    let mut buf = TextBuffer::line("");
    buf.insert("a\r\nb");
    assert_eq!(buf.text(), "a b");
    let mut many = TextBuffer::lines("");
    many.insert("a\r\nb");
    assert_eq!(many.text(), "a\nb");
}

#[test]
fn keymap_owned_chords_do_not_reach_the_textarea() {
    let mut buf = TextBuffer::line("x");
    buf.select_all();
    assert!(!buf.input(with(KeyCode::Char('x'), KeyModifiers::CONTROL)));
    assert!(!buf.input(with(KeyCode::Char('y'), KeyModifiers::CONTROL)));
    assert_eq!(buf.text(), "x");
}

#[test]
fn jump_to_places_the_cursor() {
    let mut buf = TextBuffer::lines("ab\ncd\nef");
    buf.jump_to(2, 1);
    assert_eq!(buf.cursor(), (2, 1));
    buf.jump_to(9, 9);
    assert_eq!(buf.cursor(), (2, 2));
}
