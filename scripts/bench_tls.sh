# scripts/bench_tls.sh: the `tls` figure group of scripts/bench.sh (docs/bench.md), sourced by
# it. Uses its helpers (pinned, port, up, load, record, cpu_ms, admin_put, log, die) and TMP.
#
# Certificates: one EC P-256 and one RSA 2048 self-signed certificate (SAN *.bench.test),
# made with openssl into $TMP/tls at start; every proxy serves the same files.
# Ports (offsets in each system's block; the upstream block is also the "direct" system):
#   20  TLS termination, EC cert, SNI ec.bench.test   → upstream 7 (echo, closes after one reply)
#   21  TLS termination, RSA cert, SNI rsa.bench.test → upstream 7
#   22  TLS termination, EC cert                      → upstream 22 (`gwbench source`, endless)
#   23  SNI passthrough, SNI pass.bench.test          → upstream 23 (`gwbench tls-echo --once`, EC)
# Keys recorded: tls_hs_ec tls_cpu_ec tls_hs_rsa tls_cpu_rsa tls_hs_resumed tls_cpu_resumed
# tls_resumed_frac tls_bulk tls_cpu_gb sni_conn_s sni_cpu_kconn.
#
# Environment: BENCH_TLS_CONCURRENCY (32) connections in flight for the handshake rates,
# BENCH_TLS_STREAMS (4) streams of the bulk figure.

TLS_DIR=""
TLS_OFFSETS="20 21 22 23"

tls_certs() { # the two certificates, and cert+key bundles for HAProxy
    TLS_DIR="$TMP/tls"
    mkdir -p "$TLS_DIR"
    local subj=(-subj /CN=bench.test -addext "subjectAltName=DNS:*.bench.test" -days 30 -nodes)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "${subj[@]}" \
        -keyout "$TLS_DIR/ec.key" -out "$TLS_DIR/ec.crt" 2>"$TLS_DIR/openssl.err" ||
        die "openssl cannot make the EC certificate: $(tail -1 "$TLS_DIR/openssl.err")"
    openssl req -x509 -newkey rsa:2048 "${subj[@]}" \
        -keyout "$TLS_DIR/rsa.key" -out "$TLS_DIR/rsa.crt" 2>"$TLS_DIR/openssl.err" ||
        die "openssl cannot make the RSA certificate: $(tail -1 "$TLS_DIR/openssl.err")"
    cat "$TLS_DIR/ec.crt" "$TLS_DIR/ec.key" >"$TLS_DIR/ec.pem"
    cat "$TLS_DIR/rsa.crt" "$TLS_DIR/rsa.key" >"$TLS_DIR/rsa.pem"
}

tls_cert_of() { # tls_cert_of OFFSET: ec or rsa
    [[ "$1" == 21 ]] && echo rsa || echo ec
}

tls_upstream_of() { # tls_upstream_of OFFSET: the upstream offset behind proxy port OFFSET
    case $1 in 20 | 21) echo 7 ;; *) echo "$1" ;; esac
}

tls_upstreams() { # on the load CPU: the endless source and the TLS echo of passthrough
    tls_certs
    pinned tls_source "$LOAD_CPU" "$GWB" source --tcp "127.0.0.1:$(up 22)"
    pinned tls_echo "$LOAD_CPU" "$GWB" tls-echo --once --tcp "127.0.0.1:$(up 23)" \
        --cert "$TLS_DIR/ec.crt" --key "$TLS_DIR/ec.key"
    wait_port "$(up 22)" tls_source
    wait_port "$(up 23)" tls_echo
}

nginx_tls_servers() { # server blocks inside nginx's stream {}: ssl, and ssl_preread with a map
    local o c
    for o in 20 21 22; do
        c=$(tls_cert_of $o)
        echo "    server { listen 127.0.0.1:$(port nginx $o) ssl backlog=4096;"
        echo "        ssl_certificate $TLS_DIR/$c.crt; ssl_certificate_key $TLS_DIR/$c.key;"
        echo "        ssl_protocols TLSv1.3; ssl_session_tickets on;"
        echo "        proxy_pass 127.0.0.1:$(up "$(tls_upstream_of $o)"); }"
    done
    echo "    map \$ssl_preread_server_name \$bench_sni_upstream {"
    echo "        pass.bench.test 127.0.0.1:$(up 23);"
    echo "        default 127.0.0.1:1;"
    echo "    }"
    echo "    server { listen 127.0.0.1:$(port nginx 23) backlog=4096; ssl_preread on; proxy_pass \$bench_sni_upstream; }"
}

haproxy_tls_sections() { # listen sections with ssl (tickets on by default), and req_ssl_sni
    local o c
    for o in 20 21 22; do
        c=$(tls_cert_of $o)
        echo "listen tls$o"
        echo "    bind 127.0.0.1:$(port haproxy $o) ssl crt $TLS_DIR/$c.pem ssl-min-ver TLSv1.3"
        echo "    server s1 127.0.0.1:$(up "$(tls_upstream_of $o)")"
    done
    echo "frontend sni23"
    echo "    bind 127.0.0.1:$(port haproxy 23)"
    echo "    tcp-request inspect-delay 5s"
    echo "    tcp-request content accept if { req_ssl_hello_type 1 }"
    echo "    use_backend sni23_pass if { req_ssl_sni -i pass.bench.test }"
    echo "backend sni23_pass"
    echo "    server s1 127.0.0.1:$(up 23)"
}

gw_tls_listeners() { # gw_tls_listeners SYSTEM: entries of our config's stream_proxy.tcp list
    local o
    for o in 20 21 22; do
        echo "      - addr: \"127.0.0.1:$(port "$1" $o)\""
        echo "        tls: true"
    done
    echo "      - addr: \"127.0.0.1:$(port "$1" 23)\""
    echo "        sni_preread: true"
}

gw_tls_objects() { # gw_tls_objects SYSTEM ADMIN_PORT: SSL objects and routes through the Admin API
    local sys=$1 admin=$2 c o sni
    for c in ec rsa; do
        admin_put "$admin" "ssls/bench-$c" "$(jq -n --rawfile cert "$TLS_DIR/$c.crt" \
            --rawfile key "$TLS_DIR/$c.key" --arg sni "$c.bench.test" \
            '{cert: $cert, key: $key, snis: [$sni]}')"
    done
    for o in $TLS_OFFSETS; do
        sni=""
        [[ $o == 23 ]] && sni="\"sni\":\"pass.bench.test\","
        admin_put "$admin" "stream_routes/bench-tls-$o" \
            "{\"server_port\":$(port "$sys" $o),$sni\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$(up "$(tls_upstream_of $o)")\":1}}}"
    done
}

tls_sni_of() { # tls_sni_of OFFSET
    case $1 in 21) echo rsa.bench.test ;; 23) echo pass.bench.test ;; *) echo ec.bench.test ;; esac
}

tls_wait_ready() { # tls_wait_ready SYSTEM: until a handshake and echo go through ports 20, 21, 23
    local sys=$1 o i
    for o in 20 21 23; do
        wait_port "$(port "$sys" $o)" "$sys"
        for i in $(seq 1 100); do
            "$GWB" tls-rate --target "127.0.0.1:$(port "$sys" $o)" --sni "$(tls_sni_of $o)" \
                --concurrency 1 --seconds 0.05 >/dev/null 2>"$TMP/tls-ready.err" && continue 2
            sleep 0.1
        done
        die "$sys does not relay TLS on port $(port "$sys" $o): $(tail -1 "$TMP/tls-ready.err")"
    done
}

kv_of() { # kv_of KEY FILE: the value of a key=value line
    awk -F= -v k="$1" '$1 == k { print $2 }' "$2"
}

tls_rate() { # tls_rate SYSTEM OFFSET RATE_KEY CPU_KEY [--resume]
    local sys=$1 o=$2 rate_key=$3 cpu_key=$4 out="$TMP/tls-rate.out" c0 c1 n frac
    shift 4
    c0=$(cpu_ms "$sys")
    load "$GWB" tls-rate --target "127.0.0.1:$(port "$sys" "$o")" --sni "$(tls_sni_of "$o")" \
        --concurrency "${BENCH_TLS_CONCURRENCY:-32}" --seconds "$SECS" "$@" >"$out" 2>"$TMP/tls-rate.err" || {
        log "gwbench tls-rate ($rate_key) via $sys failed: $(tail -1 "$TMP/tls-rate.err")"
        return 0
    }
    c1=$(cpu_ms "$sys")
    [[ -s "$TMP/tls-rate.err" ]] && log "tls-rate ($rate_key) via $sys: $(tail -1 "$TMP/tls-rate.err")"
    record "$sys" "$rate_key" "$(kv_of handshakes_per_sec "$out")"
    n=$(kv_of handshakes "$out")
    if [[ "$sys" != direct && "$n" -gt 0 ]]; then
        record "$sys" "$cpu_key" "$(echo "scale=3; ($c1 - $c0) * 1000 / $n" | bc)"
    fi
    if [[ "$*" == *--resume* ]]; then
        frac=$(kv_of resumed_fraction "$out")
        record "$sys" tls_resumed_frac "$frac"
        if [[ $(echo "$frac < 0.99" | bc) == 1 ]]; then
            log "resumed handshakes via $sys: only $frac of them resumed; its resumed rows are not comparable"
        fi
    fi
}

tls_bulk() { # tls_bulk SYSTEM: Gbit/s and CPU-ms per GB of a TLS download through port 22
    local sys=$1 out="$TMP/tls-bulk.out" c0 c1 bytes
    c0=$(cpu_ms "$sys")
    load "$GWB" tls-bulk --target "127.0.0.1:$(port "$sys" 22)" --sni ec.bench.test \
        --streams "${BENCH_TLS_STREAMS:-4}" --seconds "$SECS" >"$out" 2>"$TMP/tls-bulk.err" || {
        log "gwbench tls-bulk via $sys failed: $(tail -1 "$TMP/tls-bulk.err")"
        return 0
    }
    c1=$(cpu_ms "$sys")
    record "$sys" tls_bulk "$(kv_of gbit_per_sec "$out")"
    bytes=$(kv_of bytes "$out")
    record "$sys" tls_cpu_gb "$(echo "scale=3; ($c1 - $c0) / ($bytes / 1000000000)" | bc)"
}

measure_tls() { # measure_tls SYSTEM: the tls figures (direct: only passthrough's backend)
    local sys=$1
    if [[ "$sys" != direct ]]; then
        tls_rate "$sys" 20 tls_hs_ec tls_cpu_ec
        tls_rate "$sys" 21 tls_hs_rsa tls_cpu_rsa
        tls_rate "$sys" 20 tls_hs_resumed tls_cpu_resumed --resume
        tls_bulk "$sys"
    fi
    tls_rate "$sys" 23 sni_conn_s sni_cpu_kconn
}
