#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 60), after building them
# all once, and prints one line per target: executions, executions/s, corpus size, crashes.
#
#   scripts/fuzz.sh            `make fuzz`: a missing nightly or cargo-fuzz is an error (exit 1)
#   scripts/fuzz.sh --ci       `make test`: 10 s per target by default; a missing nightly or
#                              cargo-fuzz prints one "skipped" line and exits 0
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_TARGET_DIR (build output; default "${CARGO_TARGET_DIR:-target}/fuzz").
# Seeds come from fuzz/corpus/<target>/ (committed, never written to); what libFuzzer finds is
# kept in $FUZZ_TARGET_DIR/corpus/<target>/ and reused by the next run. A crash is saved in
# fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run <target> <file>); fix it and add
# the input to gateway/tests/fuzz_regressions/ so `cargo test` keeps checking it.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
if [[ "${1:-}" == "--ci" ]]; then
    ci=1
fi
seconds="${FUZZ_SECONDS:-$([[ $ci == 1 ]] && echo 10 || echo 60)}"
target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz}"
targets="${FUZZ_TARGETS:-proxy_protocol tls_client_hello mqtt_connect config_yaml standalone_yaml admin_body access_log_format}"

missing() {
    if [[ $ci == 1 ]]; then
        echo "fuzz: skipped ($1; $2)"
        exit 0
    fi
    echo "fuzz: $1; $2" >&2
    exit 1
}
cargo +nightly --version >/dev/null 2>&1 ||
    missing "no nightly toolchain" "install one with: rustup toolchain install nightly"
cargo +nightly fuzz --version >/dev/null 2>&1 ||
    missing "cargo-fuzz is not installed" "install it with: cargo install cargo-fuzz"

# No sanitizer: the code under test is safe Rust, so ASan would only slow it down; panics,
# overflows (-a: debug assertions), timeouts and memory blow-ups are what we look for.
flags=(--sanitizer none --debug-assertions --target-dir "$target_dir")
echo "fuzz: building every target (once)"
(cd fuzz && nice -n 10 cargo +nightly fuzz build "${flags[@]}") >"$target_dir.build.log" 2>&1 || {
    tail -30 "$target_dir.build.log" >&2
    echo "fuzz: build failed (full log: $target_dir.build.log)" >&2
    exit 1
}

# A final libFuzzer statistic of the last run, e.g. number_of_executed_units.
stat() { grep -m1 "stat::$1:" "$log" | awk '{print $2}' || true; }
# A field of libFuzzer's last status line (`#N DONE cov: 136 ft: 271 corp: 77/1949b ...`).
field() { grep -E '^#[0-9]+' "$log" | tail -1 | sed -nE "s/.* $1: ([0-9]+).*/\1/p" || true; }

failed=0
printf 'fuzz: %-18s %8s %12s %10s %6s %8s %s\n' target seconds execs execs/s cov corpus crashes
for target in $targets; do
    work="$target_dir/corpus/$target"
    artifacts="$PWD/fuzz/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    log="$target_dir/$target.log"
    status=0
    (cd fuzz && nice -n 10 cargo +nightly fuzz run "${flags[@]}" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/") >"$log" 2>&1 || status=$?
    if [[ $status != 0 ]]; then
        failed=1
        crashes="FAILED (exit $status): $(grep -m1 -E 'panicked|ERROR: libFuzzer|deadly signal|Test unit written' "$log" || tail -1 "$log")"
    else
        crashes=0
    fi
    printf 'fuzz: %-18s %8s %12s %10s %6s %8s %s\n' "$target" "$seconds" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$(field cov)" "$(field corp)" "$crashes"
done
if [[ $failed == 1 ]]; then
    echo "fuzz: a target failed: see fuzz/artifacts/<target>/ and $target_dir/<target>.log" >&2
    exit 1
fi
