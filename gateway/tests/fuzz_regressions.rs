//! Fuzz inputs replayed by the ordinary test suite (stable, no libFuzzer): every crash or hang
//! `make fuzz` found, once fixed, is kept in `tests/fuzz_regressions/<target>/`, and the seed
//! corpus of `fuzz/corpus/<target>/` is replayed too. Each target's check is the one its fuzz
//! target (`fuzz/fuzz_targets/<target>.rs`) makes: no panic, plus the same invariants.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks.rs"]
mod checks;

use checks::*;

/// Every input kept for `target`: the committed regressions, then the seed corpus.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("tests/fuzz_regressions").join(target),
        root.join("../fuzz/corpus").join(target),
    ];
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            out.push((file, data));
        }
    }
    assert!(!out.is_empty(), "no inputs for {target}");
    out
}

/// Replays `target`'s inputs through `check`, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for (file, data) in inputs(target) {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn proxy_protocol_inputs_replay_cleanly() {
    replay("proxy_protocol", proxy_protocol);
}

#[test]
fn tls_client_hello_inputs_replay_cleanly() {
    replay("tls_client_hello", tls_client_hello);
}

#[test]
fn mqtt_connect_inputs_replay_cleanly() {
    replay("mqtt_connect", mqtt_connect);
}

#[test]
fn config_yaml_inputs_replay_cleanly() {
    replay("config_yaml", config_yaml);
}

#[test]
fn standalone_yaml_inputs_replay_cleanly() {
    replay("standalone_yaml", standalone_yaml);
}

#[test]
fn admin_body_inputs_replay_cleanly() {
    replay("admin_body", admin_body);
}

#[test]
fn access_log_format_inputs_replay_cleanly() {
    replay("access_log_format", access_log_format);
}
