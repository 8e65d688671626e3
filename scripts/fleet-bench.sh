#!/usr/bin/env bash
# scripts/fleet-bench.sh (`make fleet-bench`, and the `fleet` figure of `make bench`): how fast
# a route written through one gateway reaches another one on the same etcd cluster; documented
# in docs/bench.md.
#
# Starts a 3-member etcd cluster (loopback, free ports, heartbeat 100 ms, election 1000 ms) and
# two gateways A and B that list all three members, then `gwbench fleet` writes FLEET_WRITES
# stream routes through A's Admin API and times each from A's 201 until B proxies it: once with
# every member up, once after one member (the leader by default) was killed with SIGKILL and
# the other two elected a new leader. Prints one markdown table (p50/p99/max, failures,
# targets). Everything it started is stopped at exit, also on Ctrl-C.
#
# Environment:
#   FLEET_WRITES=1000      routes written per run
#   FLEET_TIMEOUT_MS=5000  longest wait for B per write; longer counts as not converged
#   FLEET_BUDGET=75        seconds per run; writes not started by then count as skipped
#   FLEET_KILL=leader      the member killed for the second run: leader, follower (one that
#                          does not lead), or watched (the one gateway B holds a connection to)
#   FLEET_STRICT=1         exit 1 when a target is missed (default: report only, exit 0)
#   FLEET_KEEP=1           keep the temp directory (configs, logs, raw results)
#   FLEET_SKIP_BUILD=1     use the release binaries as they are (scripts/bench.sh built them)
set -euo pipefail

WRITES=${FLEET_WRITES:-1000}
TIMEOUT_MS=${FLEET_TIMEOUT_MS:-5000}
BUDGET=${FLEET_BUDGET:-75}
KILL=${FLEET_KILL:-leader}
LOG_NAME=fleet
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

[[ "$KILL" =~ ^(leader|follower|watched)$ ]] || die "FLEET_KILL must be leader, follower or watched, not $KILL"
command -v etcd >/dev/null 2>&1 || die "etcd is missing (apt-get install etcd-server, or make deps)"
command -v curl >/dev/null 2>&1 || die "curl is missing"

if [[ "${FLEET_SKIP_BUILD:-0}" != 1 ]]; then
    build_release
fi
[[ -x "$GW" && -x "$GWB" ]] || die "missing $GW or $GWB (cargo build --release)"

make_tmp gw-fleet
ETCD_PID=()
cleanup() {
    local rc=$?
    # Newest first: the gateways stop before the etcd members they talk to. The members get
    # SIGKILL (their data is thrown away): a leader on SIGTERM tries to hand over leadership
    # to peers that are gone and takes seconds. Bounded: whatever still runs after 5 s gets
    # SIGKILL.
    stop_all "${ETCD_PID[@]}"
    # A failed set-up keeps its logs (the error names files in it); Ctrl-C (130) does not.
    if [[ "${FLEET_KEEP:-0}" == 1 || ($rc != 0 && $rc != 130) ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

# ---------------------------------------------------------------- ports
# 3 × (etcd client, etcd peer), 2 × (stream listener, admin, control, prometheus), echo.
PORTS=$("$GWB" free-ports --count 15)
read -r -a P <<<"$PORTS"
ETCD_CLIENT=("${P[0]}" "${P[1]}" "${P[2]}")
ETCD_PEER=("${P[3]}" "${P[4]}" "${P[5]}")
declare -A GW_TCP=([a]=${P[6]} [b]=${P[7]}) GW_ADMIN=([a]=${P[8]} [b]=${P[9]})
declare -A GW_CONTROL=([a]=${P[10]} [b]=${P[11]}) GW_PROM=([a]=${P[12]} [b]=${P[13]})
ECHO_PORT=${P[14]}
ETCD_URL=()
for i in 0 1 2; do ETCD_URL+=("http://127.0.0.1:${ETCD_CLIENT[$i]}"); done

# ---------------------------------------------------------------- etcd × 3
log "starting 3 etcd members (clients on ${ETCD_CLIENT[*]})"
CLUSTER="m1=http://127.0.0.1:${ETCD_PEER[0]},m2=http://127.0.0.1:${ETCD_PEER[1]},m3=http://127.0.0.1:${ETCD_PEER[2]}"
for i in 0 1 2; do
    bg "etcd$((i + 1))" etcd --name "m$((i + 1))" --data-dir "$TMP/etcd$((i + 1)).data" \
        --listen-client-urls "${ETCD_URL[$i]}" --advertise-client-urls "${ETCD_URL[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "fleet-$$" \
        --heartbeat-interval 100 --election-timeout 1000
    ETCD_PID+=("$!")
done
for i in 0 1 2; do
    for t in $(seq 1 150); do
        curl -fsS -m 1 "${ETCD_URL[$i]}/health" 2>/dev/null | grep -q true && break
        kill -0 "${ETCD_PID[$i]}" 2>/dev/null || die "etcd m$((i + 1)) exited (see $TMP/etcd$((i + 1)).err)"
        if [[ $t == 150 ]]; then die "etcd m$((i + 1)) not healthy within 15 s (see $TMP/etcd$((i + 1)).err)"; fi
        sleep 0.1
    done
done
"$GWB" etcd-leader "${ETCD_URL[@]/#/--endpoint=}" --timeout 15 >/dev/null

# ---------------------------------------------------------------- echo and the gateways
bg echo "$GWB" echo --tcp "127.0.0.1:$ECHO_PORT"
wait_port "$ECHO_PORT" echo
new_admin_key
gw_config() { # gw_config a|b: the gateway's config.yaml (etcd provider, all three members)
    local g=$1 url
    mkdir -p "$TMP/gw-$g/conf"
    {
        apisix_yaml "${GW_CONTROL[$g]}"
        cat <<EOF
  stream_proxy:
    tcp:
      - "127.0.0.1:${GW_TCP[$g]}"
deployment:
  role: traditional
  role_traditional:
    config_provider: etcd
  etcd:
    host:
EOF
        for url in "${ETCD_URL[@]}"; do echo "      - \"$url\""; done
        cat <<EOF
    prefix: /apisix
    timeout: 5
EOF
        admin_yaml "${GW_ADMIN[$g]}"
        prometheus_yaml "${GW_PROM[$g]}"
    } >"$TMP/gw-$g/conf/config.yaml"
}
log "starting gateways A (admin ${GW_ADMIN[a]}) and B (stream ${GW_TCP[b]})"
for g in a b; do
    gw_config "$g"
    bg "gw_$g" "$GW" start -c "$TMP/gw-$g/conf/config.yaml" -p "$TMP/gw-$g" --log-level warn
done
for g in a b; do
    wait_port "${GW_ADMIN[$g]}" "gw_$g"
    wait_port "${GW_TCP[$g]}" "gw_$g"
done

etcd_peers() { # etcd_peers PID: the members PID holds established connections to
    local i conns out=()
    for i in 0 1 2; do
        conns=$(ss -Htnp state established "( dport = :${ETCD_CLIENT[$i]} )" 2>/dev/null || true)
        if [[ "$conns" == *"pid=$1,"* ]]; then out+=("m$((i + 1))"); fi
    done
    echo "${out[*]:-none}"
}

fleet() { # fleet RUN NET [ARGS...]: one measured run of gwbench fleet
    local run=$1 net=$2
    shift 2
    log "run '$run': $WRITES writes through A, probing B (A talks to $(etcd_peers "$PID_gw_a"), B to $(etcd_peers "$PID_gw_b"))"
    "$GWB" fleet --admin "127.0.0.1:${GW_ADMIN[a]}" --key "$ADMIN_KEY" \
        --probe "127.0.0.1:${GW_TCP[b]}" --upstream "127.0.0.1:$ECHO_PORT" --run "$run" --net "$net" \
        --writes "$WRITES" --timeout-ms "$TIMEOUT_MS" --budget "$BUDGET" --results "$RESULTS" \
        --samples "$TMP/samples-$run.tsv" "$@" \
        >"$TMP/fleet-$run.out" || die "gwbench fleet failed (run '$run')"
    log "run '$run': $(grep -E '^(converged|write_errors|timeouts|skipped|converge_p99_ms|converge_max_ms|seconds)=' "$TMP/fleet-$run.out" | tr '\n' ' ')"
}

# ---------------------------------------------------------------- run 1: all members up
# Afterwards its routes are deleted, so the second run also starts from none.
fleet up 77 --warmup --clear-etcd "${ETCD_URL[0]}"

# ---------------------------------------------------------------- run 2: one member down
LEADER_URL=$("$GWB" etcd-leader "${ETCD_URL[@]/#/--endpoint=}" --timeout 15)
member_of() { # member_of URL: the index (0..2) of the member with this client URL
    local i
    for i in 0 1 2; do if [[ "${ETCD_URL[$i]}" == "$1" ]]; then echo "$i"; return 0; fi; done
    die "no member has the URL $1"
}
LEADER=$(member_of "$LEADER_URL")
case $KILL in
leader) VICTIM=$LEADER ;;
follower) VICTIM=$(((LEADER + 1) % 3)) ;;
watched)
    WATCHED=$(etcd_peers "$PID_gw_b")
    [[ "$WATCHED" == m* ]] || die "gateway B holds no connection to an etcd member"
    VICTIM=$((${WATCHED:1:1} - 1))
    ;;
esac
ROLE=$([[ $VICTIM == "$LEADER" ]] && echo leader || echo follower)
B_BEFORE=$(etcd_peers "$PID_gw_b")
log "killing etcd m$((VICTIM + 1)) (the $ROLE; B talks to $B_BEFORE) with SIGKILL"
KILLED_AT=$(date +%s%N)
{ kill -9 "${ETCD_PID[$VICTIM]}" && wait "${ETCD_PID[$VICTIM]}" || true; } 2>/dev/null
SURVIVORS=()
for i in 0 1 2; do if [[ $i != "$VICTIM" ]]; then SURVIVORS+=("--endpoint=${ETCD_URL[$i]}"); fi; done
NEW_LEADER_URL=$("$GWB" etcd-leader "${SURVIVORS[@]}" --timeout 30)
ELECTED_MS=$((($(date +%s%N) - KILLED_AT) / 1000000))
NEW_LEADER=$(member_of "$NEW_LEADER_URL")
log "leader after the kill: m$((NEW_LEADER + 1)) (agreed after $ELECTED_MS ms)"
fleet down 78

# ---------------------------------------------------------------- table
echo
echo "Fleet convergence $(date -u '+%Y-%m-%d %H:%M UTC'): $(etcd --version | head -1 | sed 's/etcd Version: /etcd /'), 3 members on loopback (heartbeat 100 ms, election 1000 ms), gateways A and B listing all three; $WRITES route writes per run through A's Admin API, each timed from A's 2xx until an echo from its source address goes through B (probed every 1 ms, bound $TIMEOUT_MS ms). One member down: m$((VICTIM + 1)) (the $ROLE; B was connected to $B_BEFORE) killed with SIGKILL, m$((NEW_LEADER + 1)) leading $ELECTED_MS ms later. $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
STRICT=()
[[ "${FLEET_STRICT:-0}" == 1 ]] && STRICT=(--strict)
"$GWB" fleet-report "$RESULTS" "${STRICT[@]}"
