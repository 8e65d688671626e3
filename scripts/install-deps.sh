#!/usr/bin/env bash
# Installs the system packages that the build and the end-to-end tests need, when they are missing:
#   protoc            <- protobuf-compiler  (etcd-client's build script)
#   descriptor.proto  <- libprotobuf-dev    (google/protobuf includes for protoc)
#   openssl           <- openssl            (certificates in the etcd TLS test)
#   etcd              <- etcd-server        (etcd store tests; Debian/Ubuntu package name)
#   mariadbd/mysqld   <- mariadb-server     (the MySQL walkthrough test)
#   mariadb/mysql     <- mariadb-client     (the client run through the proxy)
#   tmux              <- tmux               (the real-terminal TUI test)
#   ip                <- iproute2           (the fleet tests' hosts: network namespaces, veth, bridge)
#   dpkg-deb          <- dpkg               (the package test unpacks the .deb)
#   systemd-analyze   <- systemd            (the package test verifies the unit)
# and one cargo tool, with `cargo install` (no root needed):
#   cargo-deb                               (`make package` and the package test)
# As root with apt-get: runs `apt-get update` once (only when something is missing) and installs.
# Otherwise: prints the command to run and exits 1. Set SKIP_INSTALL_DEPS=1 to skip the check.
set -euo pipefail

if [[ "${SKIP_INSTALL_DEPS:-0}" == "1" ]]; then
    echo "install-deps: skipped (SKIP_INSTALL_DEPS=1)"
    exit 0
fi

# The cargo-deb version the packaging is written for (scripts/package.sh).
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
    echo "install-deps: installing cargo-deb $CARGO_DEB_VERSION (cargo install)"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

have() {
    local name
    for name in "$@"; do
        command -v "$name" >/dev/null 2>&1 && return 0
        [[ -x "/usr/sbin/$name" || -x "/usr/bin/$name" || -x "/usr/local/bin/$name" || -x "/usr/local/sbin/$name" ]] && return 0
    done
    return 1
}

missing=()
have protoc || missing+=(protobuf-compiler)
[[ -f /usr/include/google/protobuf/descriptor.proto ]] || missing+=(libprotobuf-dev)
have openssl || missing+=(openssl)
have etcd || missing+=(etcd-server)
have mariadbd mysqld || missing+=(mariadb-server)
have mariadb mysql || missing+=(mariadb-client)
have tmux || missing+=(tmux)
have ip || missing+=(iproute2)
have dpkg-deb || missing+=(dpkg)
have systemd-analyze || missing+=(systemd)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: protoc (+ includes), openssl, etcd, mariadbd, mariadb client, tmux, ip, dpkg-deb, systemd-analyze and cargo-deb are present"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing system packages: ${missing[*]}" >&2
    echo "install-deps: install them, e.g. on Debian/Ubuntu:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    echo "install-deps: (other systems: protoc, etcd >= 3.4, MariaDB or MySQL server + client, tmux, iproute2, dpkg, systemd)" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' post-install scripts from starting system-wide etcd/mariadb services:
# the tests start their own instances on free ports in temp dirs.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
cleanup() { [[ $created_policy -eq 1 ]] && rm -f "$policy"; return 0; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
