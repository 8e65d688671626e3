# Two commands: `make run` (build + start the gateway on conf/config.yaml) and `make test`
# (install missing system packages, then fmt, clippy, build and every test). See README.md.
# `make fuzz` runs the fuzz targets (nightly + cargo-fuzz) for FUZZ_SECONDS each; `make soak` the
# long mixed-load run (docs/soak.md).
# CARGO_TARGET_DIR is respected: binaries are looked up in $${CARGO_TARGET_DIR:-target}.

SHELL := /bin/bash
CARGO ?= cargo
CONFIG ?= conf/config.yaml
PREFIX ?= .

.PHONY: all run test build package deps fmt lint check bench bench-compare fleet-bench fuzz soak clean

all: build

## run: build in release mode and start apisix-gateway in the foreground (embedded store)
run:
	$(CARGO) build --release --workspace
	"$${CARGO_TARGET_DIR:-target}/release/apisix-gateway" start -c $(CONFIG) -p $(PREFIX)

## test: install missing system packages, then fmt check, import cycles, clippy, build the binaries
## and run every test (the property tests and the fuzz regression inputs included), then each fuzz
## target for 10 s when nightly and cargo-fuzz are installed (one "skipped" line otherwise)
test: deps
	$(CARGO) fmt --all --check
	python3 scripts/module_cycles.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --no-fail-fast
	./scripts/fuzz.sh --ci

## fuzz: build the cargo-fuzz targets in fuzz/ once, then run each for FUZZ_SECONDS (default 60);
## needs nightly (rustup toolchain install nightly) and cargo-fuzz (cargo install cargo-fuzz);
## FUZZ_TARGETS picks a subset; crashes land in fuzz/artifacts/<target>/
fuzz:
	@./scripts/fuzz.sh

## package: the Debian package (docs/packaging.md) in $${CARGO_TARGET_DIR:-target}/debian: release
## builds of the three programs, man pages, completions, the systemd unit; installs cargo-deb
## (cargo install) when missing
package:
	@$(CARGO) deb --version >/dev/null 2>&1 || $(CARGO) install cargo-deb --locked --version 3.8.0 \
		|| { echo "package: cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 1; }
	./scripts/package.sh

## build: debug build of every crate and binary
build:
	$(CARGO) build --workspace --bins

## deps: install protoc, etcd, mariadb (server + client), tmux, iproute2, dpkg and systemd when
## missing (root + apt-get), and cargo-deb (cargo install)
deps:
	./scripts/install-deps.sh

## fmt: format the whole workspace
fmt:
	$(CARGO) fmt --all

## lint: the fmt, import-cycle (scripts/module_cycles.py) and clippy checks of `make test`, then
## cargo-deny's bans, licenses and sources
## (deny.toml; advisories need the network: `cargo deny check advisories` where there is one)
lint:
	$(CARGO) fmt --all --check
	python3 scripts/module_cycles.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@command -v cargo-deny >/dev/null 2>&1 || { echo "lint: cargo-deny is missing: cargo install cargo-deny --locked" >&2; exit 1; }
	$(CARGO) deny check bans licenses sources

## bench: the side-by-side benchmark vs nginx, HAProxy and direct loopback (docs/bench.md;
## installs nginx, haproxy, iperf3, sockperf, wrk when missing; BENCH_RUNS, BENCH_SECONDS)
bench:
	./scripts/bench.sh

## bench-compare: `make bench` with an older build (BASE_REV, default HEAD~1) beside ours in the
## same run, and a second table: ours ÷ that build, figure by figure
bench-compare:
	./scripts/bench-compare.sh

## fleet-bench: route convergence across two gateways on a 3-member etcd cluster, all members up
## and one killed (docs/bench.md; FLEET_WRITES, FLEET_KILL, FLEET_STRICT=1 fails on a missed target)
fleet-bench:
	./scripts/fleet-bench.sh

## soak: SOAK_CONNS (default 10000) held connections through the release gateway for SOAK_MINUTES
## (default 10), SOAK_CHURN (default 500) new connections/s, bulk flows and UDP sessions, every
## byte checked; passes when RSS and fds come back within 5 % of the baseline with no error
## (docs/soak.md; not part of `make test`); CSV and SVG in $${CARGO_TARGET_DIR:-target}/soak/
soak:
	./scripts/soak.sh

## clean: remove build output
clean:
	$(CARGO) clean
