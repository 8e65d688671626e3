#!/usr/bin/env bash
# scripts/bench-compare.sh (`make bench-compare BASE_REV=<rev>`): `make bench` with an older
# build of the gateway beside the current one, in the same run (docs/bench.md).
#
# Builds BASE_REV (any git revision; default: the previous commit) in a temporary worktree with
# its own target directory (kept between runs under ${CARGO_TARGET_DIR:-target}/bench-baseline),
# then runs scripts/bench.sh with BENCH_BASELINE set to that binary. Every BENCH_* variable of
# scripts/bench.sh applies.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REV=${BASE_REV:-HEAD~1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BASE_TARGET="$TARGET_DIR/bench-baseline"

log() { echo "bench-compare: $*" >&2; }

commit=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || { log "unknown revision $REV"; exit 1; }
tree=$(mktemp -d /tmp/gw-baseline.XXXXXX)
cleanup() { git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; }
trap cleanup EXIT
git -C "$ROOT" worktree add --detach -q "$tree" "$commit"
log "building the baseline ${commit:0:12} (release)"
(cd "$tree" && CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release -q -p apisix-gateway --bin apisix-gateway)
BENCH_BASELINE="$BASE_TARGET/release/apisix-gateway" "$ROOT/scripts/bench.sh"
