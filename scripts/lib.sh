# scripts/lib.sh: the shell that scripts/bench.sh, scripts/fleet-bench.sh and scripts/soak.sh share. Sourced,
# not run: `LOG_NAME=bench; source "$(dirname "$0")/lib.sh"`. It sets ROOT (the workspace),
# TARGET_DIR, GW and GWB (the release gateway and gwbench) and PIDS (every process `bg`
# started, for the caller's cleanup), and defines:
#   log, die               messages to stderr, prefixed with "$LOG_NAME: "
#   build_release          cargo build --release of the gateway and gwbench
#   make_tmp NAME          TMP=/tmp/NAME.XXXXXX and an empty RESULTS=$TMP/results.tsv
#   bg NAME CMD...         start CMD in the background (output in $TMP/NAME.out|err), its pid
#                          appended to PIDS and set as PID_NAME
#   alive                  true while any process `bg` started runs
#   stop_all [PID...]      stop what `bg` started, newest first, with SIGTERM (the PIDs given
#                          get SIGKILL at once), then SIGKILL whatever still runs after 5 s
#   wait_port PORT [NAME]  until something listens on 127.0.0.1:PORT (tcp), 10 s, else die
#   new_admin_key          ADMIN_KEY, a random admin key
#   admin_yaml PORT        the `deployment.admin` block of config.yaml (ADMIN_KEY, 127.0.0.1:PORT)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GW="$TARGET_DIR/release/apisix-gateway"
GWB="$TARGET_DIR/release/gwbench"
PIDS=()

log() { echo "$LOG_NAME: $*" >&2; }
die() { log "$*"; exit 1; }

build_release() {
    log "building the gateway and gwbench (release)"
    (cd "$ROOT" && cargo build --release -q -p apisix-gateway -p gateway-bench)
}

make_tmp() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    RESULTS="$TMP/results.tsv"
    : >"$RESULTS"
}

bg() {
    local name=$1
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS+=($!)
    eval "PID_$name=$!"
}

alive() {
    local pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

stop_all() {
    local pid i
    # Stderr off: no "Killed" notices.
    {
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
        for pid in "$@"; do kill -9 "$pid" 2>/dev/null || true; done
        for i in $(seq 1 50); do alive || break; sleep 0.1; done
        for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
        wait || true
    } 2>/dev/null
}

wait_port() {
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    if [[ -n "${2:-}" ]]; then die "$2 does not listen on 127.0.0.1:$1 (see $TMP/$2.err)"; fi
    die "nothing listens on 127.0.0.1:$1 (see $TMP)"
}

new_admin_key() {
    ADMIN_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
}

# apisix_yaml CONTROL_PORT: the head of a gateway's config.yaml (Admin and Control APIs on,
# the Control API on CONTROL_PORT, quick shutdown); the caller goes on inside `apisix:`
apisix_yaml() {
    cat <<EOF
apisix:
  proxy_mode: http&stream
  enable_admin: true
  enable_control: true
  control:
    ip: 127.0.0.1
    port: $1
  graceful_shutdown_timeout: 1
EOF
}

# prometheus_yaml PORT: the metrics export server on 127.0.0.1:PORT
prometheus_yaml() {
    cat <<EOF
plugin_attr:
  prometheus:
    enable_export_server: true
    export_addr:
      ip: 127.0.0.1
      port: $1
EOF
}

admin_yaml() {
    cat <<EOF
  admin:
    admin_key_required: true
    admin_key:
      - name: admin
        key: "$ADMIN_KEY"
        role: admin
    allow_admin:
      - 127.0.0.0/24
    admin_listen:
      ip: 127.0.0.1
      port: $1
EOF
}
