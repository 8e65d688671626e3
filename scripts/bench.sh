#!/usr/bin/env bash
# scripts/bench.sh (`make bench`): the side-by-side benchmark of /work/shared/BENCH.md,
# documented in docs/bench.md.
#
# Compares our gateway with nginx stream and HAProxy and a direct loopback connection, all in
# one run on 127.0.0.1, in pinned mode: every proxy on CPU 1, load tools and upstreams on CPU 0.
# Prints ONE markdown table (medians over BENCH_RUNS runs, min–max, ratios, targets).
#
# Environment:
#   BENCH_RUNS=3         runs per figure (systems in rotating order per run)
#   BENCH_SECONDS=4      seconds per timed test
#   BENCH_IDLE=10000     idle connections held through each proxy (capped at what the hard
#                        open-file limit allows a proxy: 2 fds per connection)
#   BENCH_IDLE_SECONDS=30  how long the proxies' CPU is measured while holding them idle
#   BENCH_FLOWS=1000     concurrent active echo flows (the flows figure)
#   BENCH_BUSY_POLL_US=100 apisix.stream_proxy.busy_poll_us of the second gateway `lowlat`
#                        (the lowlat figure: the low-latency mode's TCP latency and CPU)
#   BENCH_ROUTES=10000   filler routes for the route-scale figure (0 skips it)
#   BENCH_STATS_COST=1   measure what live stats cost: connection rate of our gateway against a
#                        second one started with APISIX_GATEWAY_NO_LIVE_STATS=1 (0 skips it)
#   BENCH_PORT_BASE=27000  first port used (about 600 ports above it)
#   BENCH_KEEP=1         keep the temp directory (configs, logs, raw results)
#   BENCH_RELAY=copy     run our gateway with the copy relay instead of splice
#   BENCH_RUNTIME=percore  run our gateway on one current_thread runtime per worker with
#                        SO_REUSEPORT listeners instead of the tokio multi-thread runtime
#                        (apisix.worker_processes: 1 here)
#   BENCH_ONLY="latency conns"  only these figures (of: idle bulk latency conns udp flows lowlat
#                        tls stats routes fleet); fleet is scripts/fleet-bench.sh, its own table
#                        at the end (FLEET_* variables there); tls is scripts/bench_tls.sh
#   BENCH_TLS_CONCURRENCY=32  TLS handshakes in flight (tls figures)
#   BENCH_TLS_STREAMS=4  TLS bulk streams read at once (tls figures)
#   BENCH_QUICK=1        smoke run: 1 run, 1 s per test, 1000 idle connections held 3 s,
#                        1000 routes
#   BENCH_BASELINE=PATH  also run this older apisix-gateway binary as the system `baseline`,
#                        beside the others in every run; a second table compares ours with it
#                        (`make bench-compare BASE_REV=<git rev>` builds one and sets this)
#   SKIP_INSTALL=1       do not apt-get install missing tools
set -euo pipefail
shopt -s lastpipe

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    : "${BENCH_RUNS:=1}" "${BENCH_SECONDS:=1}" "${BENCH_IDLE:=1000}" "${BENCH_ROUTES:=1000}"
    : "${BENCH_IDLE_SECONDS:=3}"
fi
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-4}
IDLE_N=${BENCH_IDLE:-10000}
IDLE_SECS=${BENCH_IDLE_SECONDS:-30}
FLOWS=${BENCH_FLOWS:-1000}
BUSY_POLL_US=${BENCH_BUSY_POLL_US:-100}
ROUTES=${BENCH_ROUTES:-10000}
BASE=${BENCH_PORT_BASE:-27000}
LOAD_CPU=0
PROXY_CPU=1

LOG_NAME=bench
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- tools
install_tools() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    [[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
    command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
    command -v iperf3 >/dev/null 2>&1 || missing+=(iperf3)
    command -v sockperf >/dev/null 2>&1 || missing+=(sockperf)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ "${SKIP_INSTALL:-0}" == 1 || "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "missing: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
    fi
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

install_tools
export PATH="$PATH:/usr/sbin"
NPROC=$(nproc)
[[ $NPROC -ge 2 ]] || die "needs at least 2 CPUs for pinned mode (have $NPROC)"

build_release
make_tmp gw-bench
cleanup() {
    local pid
    # A process paused by the live-stats measurement needs SIGCONT to act on SIGTERM.
    for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM
ulimit -n 20000 2>/dev/null || true
# A proxy holds 2 fds per proxied connection (client and upstream) and cannot go past the hard
# open-file limit: hold at most what fits, less a margin for its listeners and other files.
NOFILE_HARD=$(ulimit -Hn)
if [[ "$NOFILE_HARD" != unlimited ]] && ((IDLE_N > (NOFILE_HARD - 200) / 2)); then
    log "idle: $IDLE_N connections need $((2 * IDLE_N)) fds in each proxy; the hard open-file limit is $NOFILE_HARD, so $(((NOFILE_HARD - 200) / 2)) are held"
    IDLE_N=$(((NOFILE_HARD - 200) / 2))
fi

# ---------------------------------------------------------------- ports
# Offsets inside each block: 1 iperf3, 2 sockperf tcp, 3 sockperf udp, 4 http (wrk),
# 5 echo tcp (idle), 6 echo udp, 7 echo tcp once (connection rate).
# Blocks: upstreams BASE+0 (the "direct" system), ours +100, nginx +200, haproxy +300.
declare -A BLOCK=([direct]=$BASE [ours]=$((BASE + 100)) [nginx]=$((BASE + 200)) [haproxy]=$((BASE + 300)) [nostats]=$((BASE + 400)) [baseline]=$((BASE + 500)))
BLOCK[lowlat]=$((BASE + 700)) # the low-latency gateway (offsets 2 and 7, admin +90)
ADMIN_PORT=$((BASE + 190))
up() { echo $((BASE + $1)); }
port() { echo $((${BLOCK[$1]} + $2)); }

pinned() { # pinned NAME CPU CMD...: bg NAME CMD... (lib.sh) on CPU
    local name=$1 cpu=$2
    shift 2
    bg "$name" taskset -c "$cpu" "$@"
}

ONLY=" ${BENCH_ONLY:-idle bulk latency conns udp flows lowlat tls stats routes fleet} "
wanted() { [[ "$ONLY" == *" $1 "* ]]; }
# shellcheck source=scripts/bench_tls.sh
source "$ROOT/scripts/bench_tls.sh"

# ---------------------------------------------------------------- upstreams (CPU 0)
log "starting upstreams on CPU $LOAD_CPU"
pinned iperf3 $LOAD_CPU iperf3 -s -B 127.0.0.1 -p "$(up 1)"
pinned sockperf_tcp $LOAD_CPU sockperf server --tcp -i 127.0.0.1 -p "$(up 2)"
pinned sockperf_udp $LOAD_CPU sockperf server -i 127.0.0.1 -p "$(up 3)"
pinned echo $LOAD_CPU "$GWB" echo --tcp "127.0.0.1:$(up 5)" --udp "127.0.0.1:$(up 6)"
pinned echo_once $LOAD_CPU "$GWB" echo --once --tcp "127.0.0.1:$(up 7)"
mkdir -p "$TMP/nginx-up/logs"
cat >"$TMP/nginx-up/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
user root;
pid $TMP/nginx-up/nginx.pid;
error_log $TMP/nginx-up/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx-up/body;
    proxy_temp_path $TMP/nginx-up/proxy;
    fastcgi_temp_path $TMP/nginx-up/fastcgi;
    uwsgi_temp_path $TMP/nginx-up/uwsgi;
    scgi_temp_path $TMP/nginx-up/scgi;
    server {
        listen 127.0.0.1:$(up 4) reuseport backlog=4096;
        location / { return 204; }
    }
}
EOF
pinned nginx_up $LOAD_CPU nginx -p "$TMP/nginx-up" -c "$TMP/nginx-up/nginx.conf"
if wanted tls; then tls_upstreams; fi
for o in 1 2 4 5 7; do wait_port "$(up $o)"; done

# ---------------------------------------------------------------- proxies (CPU 1)
log "starting nginx, HAProxy and the gateway on CPU $PROXY_CPU"
mkdir -p "$TMP/nginx/logs"
{
    echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
    echo "worker_processes 1; worker_cpu_affinity 10; worker_rlimit_nofile 20000;"
    echo "daemon off; user root; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/logs/error.log warn;"
    echo "events { worker_connections $((2 * IDLE_N + 200 > 16000 ? 2 * IDLE_N + 200 : 16000)); }"
    echo "stream {"
    echo "    access_log off;"
    for o in 1 2 4 5 7; do
        echo "    server { listen 127.0.0.1:$(port nginx $o) backlog=4096; proxy_pass 127.0.0.1:$(up $o); }"
    done
    for o in 3 6; do
        echo "    server { listen 127.0.0.1:$(port nginx $o) udp; proxy_pass 127.0.0.1:$(up $o); }"
    done
    if wanted tls; then nginx_tls_servers; fi
    echo "}"
} >"$TMP/nginx/nginx.conf"
pinned nginx 0 nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf"

HAPROXY_MAXCONN=${BENCH_HAPROXY_MAXCONN:-$((IDLE_N + 50 > 6000 ? IDLE_N + 50 : 6000))}
{
    echo "global"
    echo "    nbthread 1"
    echo "    cpu-map 1/1 $PROXY_CPU"
    echo "    maxconn $HAPROXY_MAXCONN"
    echo "defaults"
    echo "    mode tcp"
    echo "    maxconn $HAPROXY_MAXCONN"
    echo "    timeout connect 5s"
    echo "    timeout client 10m"
    echo "    timeout server 10m"
    for o in 1 2 4 5 7; do
        echo "listen l$o"
        echo "    bind 127.0.0.1:$(port haproxy $o)"
        echo "    server s1 127.0.0.1:$(up $o)"
    done
    if wanted tls; then haproxy_tls_sections; fi
} >"$TMP/haproxy.cfg"
haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejects $TMP/haproxy.cfg"
pinned haproxy $PROXY_CPU haproxy -db -f "$TMP/haproxy.cfg"

new_admin_key
gw_config() { # gw_config SYSTEM ADMIN_PORT "TCP_OFFSETS" "UDP_OFFSETS": our gateway's config.yaml
    local sys=$1 admin=$2 o
    mkdir -p "$TMP/gw-$sys/conf"
    {
        echo "apisix:"
        echo "  proxy_mode: http&stream"
        echo "  enable_control: false"
        echo "  graceful_shutdown_timeout: 1"
        echo "  worker_processes: 1"
        echo "  stream_proxy:"
        echo "    tcp:"
        for o in $3; do echo "      - \"127.0.0.1:$(port "$sys" "$o")\""; done
        if [[ "$sys" == ours || "$sys" == baseline ]] && wanted tls; then gw_tls_listeners "$sys"; fi
        if [[ -n "$4" ]]; then
            echo "    udp:"
            for o in $4; do echo "      - \"127.0.0.1:$(port "$sys" "$o")\""; done
        fi
        cat <<EOF
deployment:
  role: traditional
  role_traditional:
    config_provider: embedded
EOF
        admin_yaml "$admin"
        cat <<EOF
plugin_attr:
  prometheus:
    enable_export_server: false
EOF
    } >"$TMP/gw-$sys/conf/config.yaml"
}
start_gw() { # start_gw SYSTEM ADMIN_PORT [ENV=VALUE...]: start our gateway as SYSTEM on the proxy CPU
    local sys=$1 admin=$2 bin=$GW
    shift 2
    [[ "$sys" == baseline ]] && bin=$BENCH_BASELINE
    pinned "$sys" $PROXY_CPU env "$@" "${GW_ENV[@]}" "$bin" start -c "$TMP/gw-$sys/conf/config.yaml" \
        -p "$TMP/gw-$sys" --log-level warn
    wait_port "$admin"
}
admin_put() { # admin_put ADMIN_PORT PATH JSON
    curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$1/apisix/admin/$2" \
        -H "X-API-KEY: $ADMIN_KEY" -H 'Content-Type: application/json' -d "$3" \
        || die "admin api PUT $2 on port $1 failed (see $TMP/*.err)"
}
wait_relays() { # wait_relays SYSTEM: until a connection through its offset 7 is relayed
    local i
    for i in $(seq 1 100); do
        "$GWB" connrate --target "127.0.0.1:$(port "$1" 7)" --concurrency 1 --seconds 0.05 2>/dev/null |
            grep -q '^conns=[1-9]' && return 0
        sleep 0.1
    done
    die "$1 does not relay (see $TMP/$1.err)"
}
conn_rate() { # conn_rate SYSTEM: connections/s through its offset 7 (connect, 32 B echo, close)
    load "$GWB" connrate --target "127.0.0.1:$(port "$1" 7)" --seconds "$SECS" | awk -F= '/^conns_per_sec=/ { print $2 }'
}

GW_ENV=(APISIX_GATEWAY_RUNTIME="${BENCH_RUNTIME:-multi}")
[[ -n "${BENCH_RELAY:-}" ]] && GW_ENV+=(APISIX_GATEWAY_RELAY="$BENCH_RELAY")
GATEWAYS=(ours)
BASELINE_ADMIN=$((BASE + 590))
if [[ -n "${BENCH_BASELINE:-}" ]]; then
    [[ -x "$BENCH_BASELINE" ]] || die "BENCH_BASELINE=$BENCH_BASELINE is not an executable"
    GATEWAYS+=(baseline)
fi
for sys in "${GATEWAYS[@]}"; do
    admin=$ADMIN_PORT
    [[ "$sys" == baseline ]] && admin=$BASELINE_ADMIN
    gw_config "$sys" "$admin" "1 2 4 5 7" "3 6"
    start_gw "$sys" "$admin"
    for o in 1 2 3 4 5 6 7; do
        admin_put "$admin" "stream_routes/bench-$o" \
            "{\"server_port\":$(port "$sys" $o),\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$(up $o)\":1}}}"
    done
    if wanted tls; then gw_tls_objects "$sys" "$admin"; fi
done
for sys in "${GATEWAYS[@]}" nginx haproxy; do for o in 1 2 4 5 7; do wait_port "$(port $sys $o)"; done; done
# The routes are applied asynchronously: wait until a connection is relayed.
for sys in "${GATEWAYS[@]}"; do wait_relays "$sys"; done
if wanted tls; then for sys in "${GATEWAYS[@]}" nginx haproxy; do tls_wait_ready "$sys"; done; fi

# pid whose CPU and memory count for each proxy (nginx: its worker)
NGINX_WORKER=""
for i in $(seq 1 50); do
    NGINX_WORKER=$(pgrep -P "$PID_nginx" | head -1 || true)
    [[ -n "$NGINX_WORKER" ]] && break
    sleep 0.1
done
[[ -n "$NGINX_WORKER" ]] || die "no nginx worker process"
declare -A PPID_OF=([ours]=$PID_ours [nginx]=$NGINX_WORKER [haproxy]=$PID_haproxy)
[[ -n "${BENCH_BASELINE:-}" ]] && PPID_OF[baseline]=$PID_baseline
CLK_TCK=$(getconf CLK_TCK)

cpu_ms() { # cpu_ms SYSTEM: utime+stime of the proxy in ms (0 for direct)
    [[ "$1" == direct ]] && { echo 0; return; }
    awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/${PPID_OF[$1]}/stat"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/${PPID_OF[$1]}/status"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
load() { taskset -c $LOAD_CPU "$@"; }

# ---------------------------------------------------------------- figures
measure_idle() { # bytes per idle connection after one exchange each
    local sys=$1 ready="$TMP/idle-$1.ready" before after holder
    [[ "$sys" == direct ]] && return 0
    rm -f "$ready"
    before=$(rss_kb "$sys")
    taskset -c $LOAD_CPU "$GWB" idle --target "127.0.0.1:$(port "$sys" 5)" --count "$IDLE_N" --ready-file "$ready" \
        >/dev/null 2>"$TMP/idle-$sys.err" &
    holder=$!
    for i in $(seq 1 600); do [[ -s "$ready" ]] && break; kill -0 $holder 2>/dev/null || break; sleep 0.1; done
    if [[ -s "$ready" ]]; then
        sleep 1
        after=$(rss_kb "$sys")
        record "$sys" idle_bytes "$(( (after - before) * 1024 / IDLE_N ))"
        measure_idle_hold "$sys" "$after"
    else
        log "idle: $sys did not hold $IDLE_N connections: $(tail -1 "$TMP/idle-$sys.err")"
    fi
    kill $holder 2>/dev/null || true
    wait $holder 2>/dev/null || true
    sleep 1 # let the proxy close its side
}

measure_idle_hold() { # measure_idle_hold SYSTEM RSS_KB: RSS holding the idle connections, CPU over IDLE_SECS
    local sys=$1 c0 c1
    record "$sys" idle_rss_mb "$(echo "scale=2; $2 / 1024" | bc)"
    c0=$(cpu_ms "$sys")
    sleep "$IDLE_SECS"
    c1=$(cpu_ms "$sys")
    record "$sys" idle_cpu_ms "$(echo "$c1 - $c0" | bc)"
}

kv() { awk -F= -v k="$1" '$1 == k { print $2 }' "$2"; } # kv KEY FILE: a gwbench key=value

measure_flows() { # FLOWS concurrent closed-loop 64 B echo flows through offset 5
    local sys=$1 out="$TMP/flows.out" c0 c1 n
    c0=$(cpu_ms "$sys")
    load "$GWB" flows --target "127.0.0.1:$(port "$sys" 5)" --flows "$FLOWS" --size 64 --seconds "$SECS" \
        >"$out" 2>"$TMP/flows.err" || { log "gwbench flows via $sys failed: $(tail -1 "$TMP/flows.err")"; return 0; }
    c1=$(cpu_ms "$sys")
    record "$sys" flows_mps "$(kv msgs_per_sec "$out")"
    record "$sys" flows_p50 "$(kv p50_us "$out")"
    record "$sys" flows_p99 "$(kv p99_us "$out")"
    record "$sys" flows_p999 "$(kv p999_us "$out")"
    n=$(kv messages "$out")
    if [[ "$sys" != direct && -n "$n" && "$n" != 0 ]]; then
        record "$sys" flows_cpu_us "$(echo "scale=3; ($c1 - $c0) * 1000 / $n" | bc)"
    fi
}

start_lowlat() { # the low-latency gateway: our config plus busy_poll_us, sockperf and echo-once routes
    LOWLAT_ADMIN=$((BASE + 790))
    gw_config lowlat "$LOWLAT_ADMIN" "2 7" ""
    sed -i "s/^  stream_proxy:\$/  stream_proxy:\n    busy_poll_us: $BUSY_POLL_US/" "$TMP/gw-lowlat/conf/config.yaml"
    start_gw lowlat "$LOWLAT_ADMIN"
    for o in 2 7; do
        admin_put "$LOWLAT_ADMIN" "stream_routes/bench-$o" \
            "{\"server_port\":$(port lowlat $o),\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$(up $o)\":1}}}"
    done
    wait_relays lowlat
    PPID_OF[lowlat]=$PID_lowlat
    record meta busy_poll_us "$BUSY_POLL_US"
}

measure_lowlat_idle() { # CPU-% of the low-latency gateway with no traffic, over IDLE_SECS
    local c0 c1
    sleep 1
    c0=$(cpu_ms lowlat)
    sleep "$IDLE_SECS"
    c1=$(cpu_ms lowlat)
    record lowlat idle_cpu_pct "$(echo "scale=3; ($c1 - $c0) / ($IDLE_SECS * 10)" | bc)"
}

measure_bulk() {
    local sys=$1 p c0 c1 bytes total_bytes=0 total_ms=0 key args
    p=$(port "$sys" 1)
    for key in tput1 tputR tputP4; do
        case $key in tput1) args=() ;; tputR) args=(-R) ;; tputP4) args=(-P 4) ;; esac
        c0=$(cpu_ms "$sys")
        load iperf3 -c 127.0.0.1 -p "$p" -t "$SECS" -J "${args[@]}" >"$TMP/iperf.json" 2>/dev/null || {
            log "iperf3 $key via $sys failed"; continue; }
        c1=$(cpu_ms "$sys")
        record "$sys" "$key" "$(jq '.end.sum_received.bits_per_second / 1e9' "$TMP/iperf.json")"
        bytes=$(jq '.end.sum_received.bytes' "$TMP/iperf.json")
        total_bytes=$(echo "$total_bytes + $bytes" | bc)
        total_ms=$(echo "$total_ms + $c1 - $c0" | bc)
    done
    if [[ "$sys" != direct && "$total_bytes" != 0 ]]; then
        record "$sys" cpu_gb "$(echo "scale=3; $total_ms / ($total_bytes / 1000000000)" | bc)"
    fi
}

sockperf_pct() { # sockperf_pct FILE PCT
    awk -v p="$2" '$0 ~ "percentile " p " =" { print $NF }' "$1"
}

measure_latency() {
    local sys=$1 out="$TMP/sockperf.out" c0 c1
    c0=$(cpu_ms "$sys")
    load sockperf ping-pong --tcp -i 127.0.0.1 -p "$(port "$sys" 2)" -m 64 -t "$SECS" >"$out" 2>&1 || {
        log "sockperf tcp via $sys failed"; return 0; }
    c1=$(cpu_ms "$sys")
    record "$sys" lat_p50 "$(sockperf_pct "$out" 50.000)"
    record "$sys" lat_p99 "$(sockperf_pct "$out" 99.000)"
    [[ "$sys" != direct ]] && record "$sys" lat_cpu_pct "$(echo "scale=2; ($c1 - $c0) / ($SECS * 10)" | bc)"
    return 0
}

measure_conns() {
    local sys=$1 out="$TMP/wrk.out" c0 c1 n
    c0=$(cpu_ms "$sys")
    load wrk -t1 -c32 -d "${SECS}s" -H 'Connection: close' "http://127.0.0.1:$(port "$sys" 4)/" >"$out" 2>&1 || {
        log "wrk via $sys failed"; return 0; }
    c1=$(cpu_ms "$sys")
    record "$sys" conn_s "$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    n=$(awk '/requests in/ { print $1 }' "$out")
    if [[ "$sys" != direct && -n "$n" && "$n" != 0 ]]; then
        record "$sys" cpu_kconn "$(echo "scale=3; ($c1 - $c0) * 1000 / $n" | bc)"
    fi
}

measure_udp() {
    local sys=$1 out="$TMP/sockperf-udp.out"
    [[ "$sys" == haproxy ]] && return 0 # HAProxy 2.6 has no UDP proxy
    if load sockperf ping-pong -i 127.0.0.1 -p "$(port "$sys" 3)" -m 64 -t "$SECS" >"$out" 2>&1; then
        record "$sys" udp_p50 "$(sockperf_pct "$out" 50.000)"
        record "$sys" udp_p99 "$(sockperf_pct "$out" 99.000)"
    else
        log "sockperf udp via $sys failed"
    fi
    load "$GWB" udp --target "127.0.0.1:$(port "$sys" 6)" --seconds "$SECS" >"$TMP/udp.out" 2>&1 || {
        log "gwbench udp via $sys failed"; return 0; }
    record "$sys" udp_dps "$(awk -F= '/^dgrams_per_sec=/ { print $2 }' "$TMP/udp.out")"
}

SYSTEMS=(direct "${GATEWAYS[@]}" nginx haproxy)
if wanted idle; then
    log "idle connections ($IDLE_N through each proxy, CPU over ${IDLE_SECS}s)"
    record meta idle_conns "$IDLE_N"
    record meta idle_secs "$IDLE_SECS"
    for sys in "${GATEWAYS[@]}" nginx haproxy; do measure_idle "$sys"; done
fi
wanted flows && record meta flows "$FLOWS"
if wanted lowlat; then
    log "low-latency gateway: busy_poll_us $BUSY_POLL_US, TCP latency in the same runs"
    start_lowlat
    SYSTEMS+=(lowlat)
fi
for run in $(seq 1 "$RUNS"); do
    order=()
    n=${#SYSTEMS[@]}
    for i in $(seq 0 $((n - 1))); do order+=("${SYSTEMS[$(((i + run - 1) % n))]}"); done
    log "run $run/$RUNS: ${order[*]}"
    for sys in "${order[@]}"; do
        if [[ "$sys" == lowlat ]]; then measure_latency lowlat; continue; fi
        if wanted flows; then measure_flows "$sys"; fi
        if wanted bulk; then measure_bulk "$sys"; fi
        if wanted latency || wanted lowlat; then measure_latency "$sys"; fi
        if wanted conns; then measure_conns "$sys"; fi
        if wanted udp; then measure_udp "$sys"; fi
        if wanted tls; then measure_tls "$sys"; fi
    done
done

if wanted lowlat; then
    log "low-latency gateway: CPU with no traffic over ${IDLE_SECS}s"
    measure_lowlat_idle
fi

if [[ "${BENCH_STATS_COST:-1}" == 1 ]] && wanted stats; then
    # The same gateway build and config without live stats (route stats, Prometheus counters,
    # access log, syslog); the connection registry stays on in both. Run alternately, on the
    # proxy CPU in turn, so both see the same machine.
    log "live stats cost: connection rate with and without live stats"
    NOSTATS_ADMIN=$((BASE + 490))
    gw_config nostats "$NOSTATS_ADMIN" "7" ""
    kill -STOP "$PID_ours"
    start_gw nostats "$NOSTATS_ADMIN" APISIX_GATEWAY_NO_LIVE_STATS=1
    admin_put "$NOSTATS_ADMIN" stream_routes/bench-7 \
        "{\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$(up 7)\":1}}}"
    wait_relays nostats
    kill -CONT "$PID_ours"
    for run in $(seq 1 "$RUNS"); do
        # Only one of the two runs at a time on the proxy CPU.
        kill -STOP "$PID_nostats"; on=$(conn_rate ours); kill -CONT "$PID_nostats"
        kill -STOP "$PID_ours"; off=$(conn_rate nostats); kill -CONT "$PID_ours"
        record ours stats_cost "$(echo "scale=4; $on / $off" | bc)"
        log "live stats run $run: $on conn/s with live stats, $off without"
    done
    kill "$PID_nostats" 2>/dev/null || true
fi

if [[ "$ROUTES" -gt 0 ]] && wanted routes; then
    record meta routes "$ROUTES"
    for sys in "${GATEWAYS[@]}"; do
        admin=$ADMIN_PORT
        [[ "$sys" == baseline ]] && admin=$BASELINE_ADMIN
        log "route scale ($sys): connection rate with 1 route, then with $ROUTES more"
        one=()
        for run in $(seq 1 "$RUNS"); do one+=("$(conn_rate "$sys")"); done
        load "$GWB" routes --admin "127.0.0.1:$admin" --key "$ADMIN_KEY" --count "$ROUTES" \
            --port "$(port "$sys" 7)" --upstream "127.0.0.1:$(up 7)" >/dev/null
        sleep 2 # the snapshot is rebuilt asynchronously
        for run in $(seq 1 "$RUNS"); do
            many=$(conn_rate "$sys")
            record "$sys" route_scale "$(echo "scale=4; $many / ${one[$((run - 1))]}" | bc)"
            log "route scale ($sys) run $run: ${one[$((run - 1))]} conn/s with 1 route, $many with $((ROUTES + 1))"
        done
    done
fi

echo
echo "Benchmark $(date -u '+%Y-%m-%d %H:%M UTC'), our runtime ${BENCH_RUNTIME:-multi}, relay ${BENCH_RELAY:-splice}, $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), pinned (proxies CPU $PROXY_CPU, load CPU $LOAD_CPU), $RUNS runs × ${SECS}s, median (min–max)."
echo "Versions: $("$GW" version 2>&1 | head -1), $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), $(iperf3 --version | head -1 | awk '{print $1 " " $2}'), sockperf $(sockperf --version 2>&1 | awk '/version/ { print $NF; exit }'), $(wrk -v 2>&1 | head -1 | awk '{print $1 " " $2}'); load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
"$GWB" report "$RESULTS"
FLEET_RC=0
if wanted fleet; then
    log "fleet: route convergence across two gateways on a 3-member etcd (scripts/fleet-bench.sh)"
    echo
    FLEET_SKIP_BUILD=1 FLEET_KEEP="${FLEET_KEEP:-${BENCH_KEEP:-0}}" "$ROOT/scripts/fleet-bench.sh" || FLEET_RC=$?
fi
[[ "${BENCH_KEEP:-0}" == 1 ]] && cp "$RESULTS" "$TMP/results.keep.tsv"
exit "$FLEET_RC"
