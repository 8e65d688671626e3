#!/usr/bin/env bash
# scripts/soak.sh (`make soak`): a long run of mixed load through the gateway, documented in
# docs/soak.md. Not part of `make test`.
#
# Starts two `gwbench echo` backends and the release gateway (embedded store, a temporary
# config with four stream listeners, the Control API and the Prometheus export), creates one
# stream route per listener through the Admin API, then runs `gwbench soak`: SOAK_CONNS held
# connections for SOAK_MINUTES, SOAK_CHURN new connections/s, SOAK_BULK bulk flows and
# SOAK_UDP UDP sessions, every byte checked. It samples the gateway's RSS, open fds, live
# sessions (/v1/status) and counters (metrics) every 10 s, and passes when RSS and fds come
# back within 5 % of the baseline, no flow saw an error and the gateway failed no session.
# Writes soak.csv, soak.svg and summary.txt into ${CARGO_TARGET_DIR:-target}/soak/.
# Exit code: 0 pass, 1 a check failed or the set-up failed.
#
# Environment:
#   SOAK_MINUTES=10      minutes of load once the held connections are open
#   SOAK_CONNS=10000     held connections
#   SOAK_CHURN=500       new connections per second on top
#   SOAK_BULK=4          bulk flows, each SOAK_BULK_RATE bytes/s each way (default 4000000)
#   SOAK_UDP=64          UDP sessions, one datagram per second each
#   SOAK_WARMUP=3        warm-up rounds before the baseline is taken (each: open the held
#                        connections, 10 s of the full load, close); 0: the baseline is the
#                        gateway before any load (docs/soak.md says why there are rounds)
#   SOAK_KEEP=1          keep the temporary directory (config, logs) also on success
#   SOAK_SKIP_BUILD=1    use the release binaries as they are
#
# Open files: the gateway needs two per held connection (client and upstream leg), the driver
# and the echo backend one each. The script raises the RLIMIT_NOFILE of what it starts (the
# hard limit too when needed, which takes CAP_SYS_RESOURCE; fs.nr_open bounds it) and sets the
# gateway's worker_rlimit_nofile and worker_connections to match. Where the hard limit cannot
# be raised far enough it stops and names the largest SOAK_CONNS that fits.
set -euo pipefail

MINUTES=${SOAK_MINUTES:-10}
CONNS=${SOAK_CONNS:-10000}
CHURN=${SOAK_CHURN:-500}
BULK=${SOAK_BULK:-4}
BULK_RATE=${SOAK_BULK_RATE:-4000000}
UDP=${SOAK_UDP:-64}
WARMUP=${SOAK_WARMUP:-3}
LOG_NAME=soak
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
OUT="$TARGET_DIR/soak"

for v in MINUTES CONNS CHURN BULK BULK_RATE UDP WARMUP; do
    [[ "${!v}" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SOAK_$v must be a number, not '${!v}'"
done
command -v curl >/dev/null 2>&1 || die "curl is missing (apt-get install curl)"

# ---------------------------------------------------------------- open-file limit
# The gateway holds two sockets per held connection (client and upstream leg), one per UDP
# session, and a reserve for churn in flight, bulk flows, pooled pipes and its own files. The
# driver and the echo backend need about one per held connection; they get the same limit.
NOFILE=$((2 * CONNS + UDP + 1000))
hard=$(ulimit -Hn)
if [[ "$hard" != unlimited ]] && ((hard < NOFILE)); then
    if ! ulimit -Hn "$NOFILE" 2>/dev/null; then
        fit=$(((hard - UDP - 1000) / 2))
        die "$CONNS held connections need an open-file limit of $NOFILE in the gateway, but the hard limit is $hard and cannot be raised here (raising it needs CAP_SYS_RESOURCE, e.g. root outside a restricted container, and fs.nr_open >= $NOFILE). Run it where the limit can be raised, or set SOAK_CONNS=$fit or less."
    fi
fi
soft=$(ulimit -Sn)
if [[ "$soft" != unlimited ]] && ((soft < NOFILE)); then
    ulimit -Sn "$NOFILE" || die "cannot raise the open-file limit to $NOFILE"
fi
log "open-file limit $(ulimit -Sn) for the gateway, the driver and the backends"

if [[ "${SOAK_SKIP_BUILD:-0}" != 1 ]]; then
    build_release
fi
[[ -x "$GW" && -x "$GWB" ]] || die "missing $GW or $GWB (cargo build --release)"

make_tmp gw-soak
cleanup() {
    local rc=$?
    stop_all
    # A failed run keeps its logs; Ctrl-C (130) does not.
    if [[ "${SOAK_KEEP:-0}" == 1 || ($rc != 0 && $rc != 130) ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

# ---------------------------------------------------------------- ports
# Listeners: held, churn, bulk (TCP), udp; admin, control, prometheus; echo (TCP+UDP), echo-once.
read -r HELD CHURN_PORT BULK_PORT UDP_PORT ADMIN CONTROL PROM ECHO ECHO_ONCE <<<"$("$GWB" free-ports --count 9)"

# ---------------------------------------------------------------- backends and the gateway
bg echo "$GWB" echo --tcp "127.0.0.1:$ECHO" --udp "127.0.0.1:$ECHO"
bg echo_once "$GWB" echo --once --tcp "127.0.0.1:$ECHO_ONCE"
wait_port "$ECHO" echo
wait_port "$ECHO_ONCE" echo_once

new_admin_key
mkdir -p "$TMP/gw/conf"
{
    apisix_yaml "$CONTROL"
    cat <<EOF
  stream_proxy:
    tcp:
      - "127.0.0.1:$HELD"
      - "127.0.0.1:$CHURN_PORT"
      - "127.0.0.1:$BULK_PORT"
    udp:
      - "127.0.0.1:$UDP_PORT"
nginx_config:
  worker_rlimit_nofile: $NOFILE
  event:
    worker_connections: $((CONNS + 5000))
  stream:
    enable_access_log: false
deployment:
  role: traditional
  role_traditional:
    config_provider: embedded
EOF
    admin_yaml "$ADMIN"
    prometheus_yaml "$PROM"
} >"$TMP/gw/conf/config.yaml"
log "starting the gateway (admin $ADMIN, control $CONTROL, metrics $PROM)"
bg gw "$GW" start -c "$TMP/gw/conf/config.yaml" -p "$TMP/gw" --log-level warn
wait_port "$ADMIN" gw
wait_port "$CONTROL" gw

admin_put() { # admin_put ID JSON: one stream route through the Admin API
    curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$ADMIN/apisix/admin/stream_routes/$1" \
        -H "X-API-KEY: $ADMIN_KEY" -H 'Content-Type: application/json' -d "$2" ||
        die "admin api PUT stream_routes/$1 failed (see $TMP/gw.err)"
}
node() { echo "{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$1\":1}${2:-}}"; }
admin_put soak-held "{\"server_port\":$HELD,\"upstream\":$(node "$ECHO")}"
admin_put soak-churn "{\"server_port\":$CHURN_PORT,\"upstream\":$(node "$ECHO_ONCE")}"
admin_put soak-bulk "{\"server_port\":$BULK_PORT,\"upstream\":$(node "$ECHO")}"
# UDP sessions end 5 s after their last datagram, so the gateway drains soon after the load.
admin_put soak-udp "{\"server_port\":$UDP_PORT,\"upstream\":$(node "$ECHO" ',"timeout":{"connect":5,"send":5,"read":5}')}"

# ---------------------------------------------------------------- the run
log "$CONNS held connections for $MINUTES min (after $WARMUP warm-up rounds), $CHURN new/s, $BULK bulk flows, $UDP UDP sessions; files in $OUT"
rc=0
"$GWB" soak --gateway-pid "$PID_gw" \
    --control "http://127.0.0.1:$CONTROL" --metrics "http://127.0.0.1:$PROM/apisix/prometheus/metrics" \
    --held "127.0.0.1:$HELD" --churn "127.0.0.1:$CHURN_PORT" --bulk "127.0.0.1:$BULK_PORT" \
    --udp "127.0.0.1:$UDP_PORT" --conns "$CONNS" --churn-rate "$CHURN" --bulk-flows "$BULK" \
    --bulk-rate "$BULK_RATE" --udp-sessions "$UDP" --minutes "$MINUTES" --warmup-rounds "$WARMUP" \
    --out "$OUT" || rc=$?
kill -0 "$PID_gw" 2>/dev/null || { log "the gateway exited during the run (see $TMP/gw.err)"; rc=1; }
if [[ -s "$TMP/gw.err" ]]; then
    log "gateway log (warnings and errors, last 5 lines of $TMP/gw.err):"
    tail -5 "$TMP/gw.err" >&2
fi
log "$(if ((rc == 0)); then echo PASS; else echo FAIL; fi): files in $OUT (soak.csv, soak.svg, summary.txt)"
exit "$rc"
