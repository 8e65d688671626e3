#!/usr/bin/env bash
# Builds the Debian package (docs/packaging.md): the three programs in release mode, their man
# pages and shell completions (each program's hidden `generate-docs`), then `cargo deb`.
# Prints the path of the .deb on its last line.
#
#   --no-build     package the binaries already in $CARGO_TARGET_DIR/release (the package test
#                  puts its debug builds there, in a temp target dir)
#   --output DIR   where the .deb goes (default: $CARGO_TARGET_DIR/debian)
#   --fast         faster, weaker compression
#
# Needs cargo-deb (`cargo install cargo-deb --locked`; `make package` installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo="${CARGO:-cargo}"
target="${CARGO_TARGET_DIR:-target}"
build=1
output="$target/debian"
deb_flags=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --output) output="$2"; shift ;;
        --fast) deb_flags+=(--fast) ;;
        *) echo "package: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if ! "$cargo" deb --version >/dev/null 2>&1; then
    echo "package: cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 1
fi

if [[ $build -eq 1 ]]; then
    "$cargo" build --release -p apisix-gateway -p apisixctl -p apisix-tui --bins
fi

release="$target/release"
docs="$release/package-docs"
rm -rf "$docs"
"$release/apisix-gateway" generate-docs "$docs"
"$release/apisixctl" generate-docs "$docs"
"$release/apisix-tui" --generate-docs "$docs"

mkdir -p "$output"
# --strip: the release profile keeps line tables for profiling (`make bench`); the package
# ships stripped programs.
"$cargo" deb -p apisix-gateway --no-build --strip --output "$output" "${deb_flags[@]}"
