#!/usr/bin/env bash
# bench/run.sh: sb-cookie-proxy side by side with nginx and with no proxy at
# all, on the same upstream, in one run; writes bench/RESULTS.md.
#
#   bench/run.sh            full run: 1, 32 and 256 connections, 3 rounds of 4 s (1 MiB: 7 of 2 s),
#                           pinned, then unpinned with default settings (~31 min)
#   bench/run.sh --quick    1 and 32 connections, 1 round of 2 s, both layouts (~4 min)
#   bench/run.sh --profile  profile the proxy instead (bench/profile.sh -> bench/profile/)
#   bench/run.sh --instructions  only the profile's instructions per request (PROFILE_CONNS),
#                           proxy and nginx (callgrind; repeatable, for A/B of a change)
#   bench/run.sh --cache-sim     the same with this machine's L1d and L2 simulated: data
#                           cache misses per request too (slower)
#
# Options: --duration SECS, --rounds N, --conns "1 32 256", --workloads "rest-session ...",
# --layout pinned|unpinned|both (default both; --no-pin = --layout unpinned),
# --unpinned-workloads "..." (what the unpinned layout of a `both` run measures;
# default every workload but the 1 MiB ones), --out FILE (default bench/RESULTS.md),
# --keep (keep the temp dir with logs and raw figures), --no-build (use the
# binaries already in $CARGO_TARGET_DIR/release), --no-rt (see below).
#
# What runs (loopback only, every port picked free at run time):
#   supabase-stub     stand-in Auth, reached only for sign-ups and sign-ins
#   nginx "origin"    the upstream: fixed JSON, 1 MiB body, upload sink, /auth -> stub
#   nginx "front"     plain reverse proxy to the origin            (path "nginx")
#   sb-cookie-proxy   SUPABASE_URL = the origin, memory: store     (path "proxy")
#   the origin itself                                              (path "direct")
# Every workload x connection count runs the three paths back to back
# (direct, nginx, proxy), each after a 1 s warm-up, with wrk, and does so
# --rounds times in alternation; the report takes each path's median round
# (other work on a shared machine moves single runs by 10-20%). The 1 MiB
# workloads run 2 x --rounds + 1 rounds of half the duration: their rate
# depends on how the kernel's TCP buffering settles for each of wrk's
# connections, differently from round to round for every path (direct
# included; bench/PROFILE.md), so they sample more connections.
#
# Pinning (default, when there are 2+ CPUs): the component under test (the
# front nginx, one worker; the proxy, whose runtime then has one worker
# thread) runs alone on CPU 0; wrk, the origin (one worker) and the stub share
# CPU 1. Both hops get the same single core, so req/s compares their cost
# per request; "hop CPU %" shows whether the hop or CPU 1 was the limit.
# The 1-connection runs are strictly sequential (one request in flight), so
# there the hop is moved onto CPU 1 with everything else: its latency is then
# its own work, not four cross-core wake-ups of an idle virtual CPU (about
# 20 µs each on this kind of VM, the same for nginx and the proxy).
# Everything we start runs at nice -20, and so does this session's scheduler
# autogroup (/proc/self/autogroup; restored on exit), so that other work on the
# machine (compilers in other sessions, say) barely takes CPU from it; the CPU
# the machine spent on anything else during each run is still measured and
# reported ("other load"). When pinned, in the 1-connection runs the hop under
# test is also switched to SCHED_FIFO (chrt -f 10) on its core: it is woken at
# once instead of waiting for another session's process to finish its time
# slice, which otherwise puts milliseconds into every hop's p99 on a busy
# machine. Not in the saturating runs: there the kernel's RT throttling (5%
# of each second left to others) would stall the hop for 50 ms a second.
#
# Unpinned (the second layout of a full run, or --layout unpinned): the OS
# places everything on all CPUs, as users run it: nginx with `worker_processes
# auto` (front and origin), the proxy with its default settings (a worker
# thread per CPU), wrk with 2 threads; the same nice -20, no SCHED_FIFO. Pinning
# compares the hops' cost on one core each; this shows what a user's default
# gets when the hop shares the CPUs with its clients and upstream. A `both` run
# measures the pinned layout, then runs this script again for the unpinned one
# (its own stack, on fresh ports) and reports both.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
COMMAND="bench/run.sh${*:+ $*}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/sbp-target-bench}
BIN=$CARGO_TARGET_DIR/release
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# ---- options ---------------------------------------------------------------
DURATION=4
ROUNDS=3
WARMUP=1
CONNS="1 32 256"
IDLE_CONNS=1000
WORKLOADS="rest-session rest-close rest-anon download-1mib upload-1mib edge-session sign-in"
LAYOUT=both
UNPINNED_WORKLOADS=
RAW_ONLY=
OUT=$BENCH_DIR/RESULTS.md
KEEP_WORK=0
BUILD=1
RT=1
PROFILE=0
INSTRUCTIONS=0
CACHE_SIM=0
while (($#)); do
    case $1 in
        --quick) DURATION=2 ROUNDS=1 CONNS="1 32" ;;
        --duration) DURATION=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --conns) CONNS=$2; shift ;;
        --workloads) WORKLOADS=$2; shift ;;
        --no-pin) LAYOUT=unpinned ;;
        --layout) LAYOUT=$2; shift ;;
        --unpinned-workloads) UNPINNED_WORKLOADS=$2; shift ;;
        --raw-only) RAW_ONLY=$2; shift ;; # (internal) write the raw figures there and stop
        --out) OUT=$2; shift ;;
        --keep) KEEP_WORK=1 ;;
        --no-build) BUILD=0 ;;
        --no-rt) RT=0 ;;
        --profile) PROFILE=1 ;;
        --instructions) INSTRUCTIONS=1 ;;
        --cache-sim) INSTRUCTIONS=1 CACHE_SIM=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
case $LAYOUT in
    both | pinned) PIN=1 ;;
    unpinned) PIN=0 ;;
    *) die "--layout is pinned, unpinned or both, not $LAYOUT" ;;
esac
if [[ $(nproc) -lt 2 ]]; then
    PIN=0 LAYOUT=unpinned
fi
if ((PROFILE || INSTRUCTIONS)) && [[ $LAYOUT == both ]]; then
    LAYOUT=pinned
fi
if [[ -z $UNPINNED_WORKLOADS ]]; then
    for name in $WORKLOADS; do
        [[ $name == *-1mib ]] || UNPINNED_WORKLOADS+="${UNPINNED_WORKLOADS:+ }$name"
    done
fi
if ((PIN)); then
    HOP=(nice -n -20 taskset -c 0) REST=(nice -n -20 taskset -c 1) WORKERS=1
    ((RT)) && chrt -f 10 true 2>/dev/null || RT=0
else
    HOP=(nice -n -20) REST=(nice -n -20) WORKERS=auto RT=0
fi

ensure_tools
if ((BUILD)); then
    log "building (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    build_binaries
fi
log "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
raise_priority

WORK=$(mktemp -d /tmp/sbp-bench.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SECONDS=0

# ---- the stand-in Auth -----------------------------------------------------
"${REST[@]}" "$BIN/supabase-stub" >"$WORK/stub.out" 2>"$WORK/stub.err" &
STARTED_PIDS+=($!)
STUB_PID=$!
STUB_JSON=$(wait_for_line "$WORK/stub.out" '^\{')
STUB_URL=$(jq -r .url <<<"$STUB_JSON")
ANON_KEY=$(jq -r .anon_key <<<"$STUB_JSON")
STUB_PORT=${STUB_URL##*:}

# ---- nginx: origin and front -----------------------------------------------
ORIGIN_PORT=$(free_port)
FRONT_PORT=$(free_port)
ORIGIN=http://127.0.0.1:$ORIGIN_PORT
FRONT=http://127.0.0.1:$FRONT_PORT
# nginx's workers run as an unprivileged user: let them read the files.
chmod 755 "$WORK"
head -c 1048576 /dev/urandom >"$WORK/1mib.bin"
chmod 644 "$WORK/1mib.bin"
# A small PostgREST-like answer (3 rows, ~400 bytes).
TODOS='[{"id":1,"user_id":"8a3c2e1f-5b6d-4e7f-9a0b-1c2d3e4f5a6b","task":"Write the benchmark","is_complete":true,"inserted_at":"2026-01-01T10:00:00.000000+00:00"},{"id":2,"user_id":"8a3c2e1f-5b6d-4e7f-9a0b-1c2d3e4f5a6b","task":"Read the profile","is_complete":false,"inserted_at":"2026-01-01T10:05:00.000000+00:00"},{"id":3,"user_id":"8a3c2e1f-5b6d-4e7f-9a0b-1c2d3e4f5a6b","task":"Tune the hot path","is_complete":false,"inserted_at":"2026-01-01T10:10:00.000000+00:00"}]'
echo "return 200 '$TODOS';" >"$WORK/todos-return.conf"
echo "return 200 '{}';" >"$WORK/session-return.conf" # replaced once a session exists
for conf in origin front; do
    sed -e "s|@PREFIX@|$WORK|g" -e "s|@WORKERS@|$WORKERS|g" \
        -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@FRONT_PORT@|$FRONT_PORT|g" \
        -e "s|@STUB_PORT@|$STUB_PORT|g" \
        -e "s|@ECHO_MODULE@|/usr/lib/nginx/modules/ngx_http_echo_module.so|g" \
        "$BENCH_DIR/nginx/$conf.conf" >"$WORK/$conf.conf"
done
"${REST[@]}" nginx -p "$WORK" -c "$WORK/origin.conf" -e "$WORK/origin-error.log" &
STARTED_PIDS+=($!)
"${HOP[@]}" nginx -p "$WORK" -c "$WORK/front.conf" -e "$WORK/front-error.log" &
STARTED_PIDS+=($!)
wait_for_http "$ORIGIN/rest/v1/todos"
wait_for_http "$FRONT/rest/v1/todos"

# ---- the proxy ---------------------------------------------------------------
# The Auth rate limit (if the build has one) is off: this measures the cost of
# proxying sign-ins, not the limiter; nginx has none either.
# The app's origin: browsers send it as `Origin` on every POST, and the proxy
# refuses cookie-carrying or sign-in POSTs from other origins (CSRF).
APP_ORIGIN=http://127.0.0.1:8787
start_proxy() { # name: sets PROXY_PID and PROXY
    SUPABASE_URL=$ORIGIN SUPABASE_ANON_KEY=$ANON_KEY PROXY_LISTEN=127.0.0.1:0 \
        PROXY_PUBLIC_URL=$APP_ORIGIN PROXY_SESSION_STORE=memory: PROXY_AUTH_RATE_LIMIT=off RUST_LOG=warn \
        "${HOP[@]}" "$BIN/sb-cookie-proxy" >"$WORK/$1.out" 2>"$WORK/$1.err" &
    STARTED_PIDS+=($!)
    PROXY_PID=$!
    PROXY=http://$(wait_for_line "$WORK/$1.out" 'listening on' | sed -E 's|.*http://||')
}
start_proxy proxy

# ---- a user and two sessions -----------------------------------------------
EMAIL=bench@example.com
CREDS='{"email":"bench@example.com","password":"bench-password-1"}'
curl -sf -X POST "$ORIGIN/auth/v1/signup" -H "apikey: $ANON_KEY" \
    -H 'content-type: application/json' -d "$CREDS" >/dev/null ||
    die "cannot sign up $EMAIL at the stub"
# Signs in through the proxy as the browser does; sets COOKIE and leaves the
# answer in $WORK/NAME.json (its head in NAME.headers). A refusal stops the
# run with what the proxy answered.
sign_in_through_proxy() { # name
    local status
    status=$(curl -s -m 10 -D "$WORK/$1.headers" -o "$WORK/$1.json" -w '%{http_code}' \
        -X POST "$PROXY/auth/v1/token?grant_type=password" -H "apikey: $ANON_KEY" \
        -H "Origin: $APP_ORIGIN" -H 'content-type: application/json' -d "$CREDS") || status="none (curl $?)"
    COOKIE=$(grep -i '^set-cookie: sb-session=' "$WORK/$1.headers" | sed -E 's/^[^:]*: *//; s/;.*//' | tr -d '\r') || true
    [[ $COOKIE == sb-session=?* ]] ||
        die "no session cookie from the proxy: sign-in answered $status: $(head -c 300 "$WORK/$1.json")"
}
# Through the proxy: the browser's view (cookie + placeholder access token).
sign_in_through_proxy signin
PLACEHOLDER=$(jq -r .access_token "$WORK/signin.json")
# Directly: what supabase-js holds without the proxy (Auth's real token).
REAL_TOKEN=$(curl -sf -X POST "$ORIGIN/auth/v1/token?grant_type=password" \
    -H "apikey: $ANON_KEY" -H 'content-type: application/json' -d "$CREDS" | jq -r .access_token)

# nginx's /edge/v1/session answers the proxy's own body, byte for byte.
curl -sf "$PROXY/edge/v1/session" -H "Cookie: $COOKIE" >"$WORK/session.json" ||
    die "the proxy's /edge/v1/session refused the session"
if grep -q "[\$'\\\\]" "$WORK/session.json"; then
    die "session body has characters nginx's return cannot hold"
fi
echo "return 200 '$(cat "$WORK/session.json")';" >"$WORK/session-return.conf"
for conf in origin front; do
    nginx -p "$WORK" -c "$WORK/$conf.conf" -e "$WORK/$conf-error.log" -s reload
done
for url in "$ORIGIN" "$FRONT"; do
    for ((i = 0; i < 50; i++)); do
        cmp -s <(curl -s "$url/edge/v1/session") "$WORK/session.json" && break
        sleep 0.1
    done
done

# ---- workloads ---------------------------------------------------------------
# Headers a browser app sends. Without the proxy, supabase-js sends the real
# access token; with it, a placeholder token and the cookie.
SESSION_DIRECT=(-H "apikey: $ANON_KEY" -H "Authorization: Bearer $REAL_TOKEN")
SESSION_PROXY=(-H "apikey: $ANON_KEY" -H "Authorization: Bearer $PLACEHOLDER" -H "Cookie: $COOKIE")
ANON=(-H "apikey: $ANON_KEY" -H "Authorization: Bearer $ANON_KEY")
UPLOAD=/storage/v1/object/bench/upload.bin

# More, shorter rounds for the 1 MiB workloads (see the top of this file).
is_bulk() { [[ $1 == *-1mib ]]; }
rounds_of() { if is_bulk "$1"; then echo $((2 * ROUNDS + 1)); else echo "$ROUNDS"; fi; }
duration_of() { if is_bulk "$1"; then echo $(((DURATION + 1) / 2)); else echo "$DURATION"; fi; }

# Sets URL_PATH, METHOD, BODY_FILE, EXPECT (status) and HDRS for a workload and path.
workload() {
    local name=$1 path=$2
    METHOD=GET BODY_FILE= EXPECT=200
    if [[ $path == proxy ]]; then HDRS=("${SESSION_PROXY[@]}"); else HDRS=("${SESSION_DIRECT[@]}"); fi
    case $name in
        rest-session) URL_PATH='/rest/v1/todos?select=*' ;;
        rest-close) URL_PATH='/rest/v1/todos?select=*' HDRS+=(-H 'Connection: close') ;;
        rest-anon) URL_PATH='/rest/v1/todos?select=*' HDRS=("${ANON[@]}") ;;
        download-1mib) URL_PATH='/functions/v1/bytes?n=1048576' ;;
        upload-1mib)
            URL_PATH=$UPLOAD METHOD=POST BODY_FILE=$WORK/1mib.bin EXPECT=201
            HDRS+=(-H 'Content-Type: application/octet-stream' -H "Origin: $APP_ORIGIN")
            ;;
        edge-session) URL_PATH=/edge/v1/session HDRS=(-H "Cookie: $COOKIE") ;;
        sign-in)
            URL_PATH='/auth/v1/token?grant_type=password' METHOD=POST BODY_FILE=$WORK/creds.json
            HDRS=(-H "apikey: $ANON_KEY" -H 'Content-Type: application/json' -H "Origin: $APP_ORIGIN")
            ;;
        *) die "unknown workload $name" ;;
    esac
}
printf '%s' "$CREDS" >"$WORK/creds.json"

base_url() {
    case $1 in direct) echo "$ORIGIN" ;; nginx) echo "$FRONT" ;; proxy) echo "$PROXY" ;; esac
}

# The processes whose CPU and memory are the cost of a path.
hop_pids() {
    case $1 in
        direct) nginx_pids "$WORK/origin.pid" ;;
        nginx) nginx_pids "$WORK/front.pid" ;;
        proxy) echo "$PROXY_PID" ;;
    esac
}

# Every workload answers correctly on every path before anything is measured
# (a benchmark of error pages would be worthless).
for name in $WORKLOADS; do
    for path in direct nginx proxy; do
        workload "$name" "$path"
        args=(-s -o "$WORK/check.body" -w '%{http_code}' -X "$METHOD" "${HDRS[@]}")
        [[ -n $BODY_FILE ]] && args+=(--data-binary "@$BODY_FILE")
        status=$(curl "${args[@]}" "$(base_url "$path")$URL_PATH")
        [[ $status == "$EXPECT" ]] || die "$name via $path answered $status: $(head -c 300 "$WORK/check.body")"
        case $name in
            download-1mib) [[ $(stat -c %s "$WORK/check.body") == 1048576 ]] || die "$name via $path: short body" ;;
            upload-1mib)
                received=$(jq -r .request_length "$WORK/check.body")
                ((received > 1048576)) || die "$name via $path: the origin received $received bytes"
                ;;
            rest-*) [[ $(cat "$WORK/check.body") == "$TODOS" ]] || die "$name via $path: wrong body" ;;
        esac
    done
done
log "stack up: origin $ORIGIN, nginx $FRONT, proxy $PROXY; all workloads answer on all paths"

# ---- measuring ---------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
RAW=$WORK/raw.tsv
printf '%s\n' "workload conns path requests duration_us bytes err_connect err_read err_write err_status err_timeout p50_us p90_us p99_us p999_us max_us hop_ticks up_ticks wrk_ticks machine_ticks clk_tck hop_hwm_kib hop_rss_before_kib hop_rss_after_kib round" | tr ' ' '\t' >"$RAW"

run_wrk() { # duration conns url
    local threads=1
    ((PIN == 0 && $2 > 1)) && threads=2
    BENCH_METHOD=$METHOD BENCH_BODY_FILE=$BODY_FILE "${REST[@]}" \
        wrk -t"$threads" -c"$2" -d"$1"s --timeout 10s -s "$BENCH_DIR/wrk/report.lua" \
        "${HDRS[@]}" "$3"
}

measure() { # workload conns path round
    local name=$1 conns=$2 path=$3 round=$4 url pids up_pids hop0 faults0 up0 wrk0 busy0 rss0 out line
    workload "$name" "$path"
    url=$(base_url "$path")$URL_PATH
    run_wrk "$WARMUP" "$conns" "$url" >/dev/null
    read -ra pids <<<"$(hop_pids "$path")"
    read -ra up_pids <<<"$(nginx_pids "$WORK/origin.pid") $STUB_PID"
    # One connection: the hop on CPU 1 with the rest, under SCHED_FIFO (see
    # the top of this file); moved back after the run.
    local sched=-o prio=0 cpu=0
    ((RT && conns == 1)) && sched=-f prio=10
    ((PIN && conns == 1)) && cpu=1
    for pid in "${pids[@]}"; do
        chrt -a "$sched" -p "$prio" "$pid" >/dev/null
        ((PIN)) && [[ $path != direct ]] && taskset -a -p -c "$cpu" "$pid" >/dev/null
    done
    reset_peak_rss "${pids[@]}"
    rss0=$(mem_kib VmRSS "${pids[@]}")
    hop0=$(cpu_ticks "${pids[@]}")
    faults0=$(minor_faults "${pids[@]}")
    up0=$(cpu_ticks "${up_pids[@]}")
    children_ticks
    wrk0=$CHILD_TICKS
    busy0=$(machine_busy_ticks)
    run_wrk "$(duration_of "$name")" "$conns" "$url" >"$WORK/wrk.out"
    children_ticks
    local busy=$(($(machine_busy_ticks) - busy0)) wrk=$((CHILD_TICKS - wrk0))
    local hop=$(($(cpu_ticks "${pids[@]}") - hop0)) up=$(($(cpu_ticks "${up_pids[@]}") - up0))
    local faults=$(($(minor_faults "${pids[@]}") - faults0))
    out=$(<"$WORK/wrk.out")
    for pid in "${pids[@]}"; do
        chrt -a -o -p 0 "$pid" >/dev/null
        ((PIN)) && [[ $path != direct ]] && taskset -a -p -c 0 "$pid" >/dev/null
    done
    local hwm rss1
    hwm=$(mem_kib VmHWM "${pids[@]}")
    rss1=$(mem_kib VmRSS "${pids[@]}")
    line=$(grep '^BENCH ' <<<"$out") || die "no figures from wrk: $out"
    # "BENCH k=v k=v ..." -> values in the order of the header.
    local v=()
    for key in requests duration_us bytes connect read write status timeout p50 p90 p99 p999 max; do
        v+=("$(sed -E "s/.* $key=([0-9.]+).*/\1/" <<<" ${line#BENCH }")")
    done
    printf '%s\t' "$name" "$conns" "$path" "${v[@]}" "$hop" "$up" "$wrk" "$busy" "$CLK_TCK" "$hwm" "$rss0" >>"$RAW"
    printf '%s\t%s\n' "$rss1" "$round" >>"$RAW"
    local rps=$((v[0] * 1000000 / v[1]))
    log "$(printf '%-14s c=%-3s r%s %-6s %8d req/s  p50 %6d us  p99 %6d us  errors %d  faults/req %.1f' \
        "$name" "$conns" "$round" "$path" "$rps" "${v[8]}" "${v[10]}" $((v[3] + v[4] + v[5] + v[6] + v[7])) \
        "$(awk -v f="$faults" -v n="${v[0]}" 'BEGIN { print (n ? f / n : 0) }')")"
}

if ((INSTRUCTIONS)); then
    # shellcheck source=bench/profile.sh
    source "$BENCH_DIR/profile.sh"
    mkdir -p "$PROFILE_DIR"
    count_instructions "${PROFILE_CONNS:-32}" >"$PROFILE_DIR/instructions.txt"
    cat "$PROFILE_DIR/instructions.txt" >&2
    exit 0
fi

if ((PROFILE)); then
    # shellcheck source=bench/profile.sh
    source "$BENCH_DIR/profile.sh"
    trap 'remove_probes; cleanup' EXIT
    DURATION=$((DURATION < 4 ? 4 : DURATION))
    run_profile
    exit 0
fi

for name in $WORKLOADS; do
    for conns in $CONNS; do
        for ((round = 1; round <= $(rounds_of "$name"); round++)); do
            for path in direct nginx proxy; do
                measure "$name" "$conns" "$path" "$round"
            done
        done
    done
done
if [[ -n $RAW_ONLY ]]; then
    cp "$RAW" "$RAW_ONLY"
    exit 0
fi

# ---- the unpinned layout ---------------------------------------------------------
# Its own stack, from a second run of this script (this run's stack stays up,
# idle, for the memory figures below).
UNPINNED_RAW=
if [[ $LAYOUT == both ]]; then
    log "the unpinned layout, default settings: $UNPINNED_WORKLOADS"
    UNPINNED_RAW=$WORK/raw-unpinned.tsv
    "$0" --layout unpinned --no-build --duration "$DURATION" --rounds "$ROUNDS" --conns "$CONNS" \
        --workloads "$UNPINNED_WORKLOADS" --raw-only "$UNPINNED_RAW"
fi

# ---- memory per cached session ---------------------------------------------
log "memory per cached session (100k sessions)"
"$BIN/session-memory" --sessions 100000 >"$WORK/session-memory.json" 2>"$WORK/session-memory.txt"
cat "$WORK/session-memory.txt" >&2

# ---- memory per idle keep-alive connection ---------------------------------------
restart_proxy() { # name: a fresh proxy, signed in afresh (its `memory:` store is its own)
    # The old one may have stopped by itself: say so, and go on with a new one.
    kill "$PROXY_PID" 2>/dev/null || log "the proxy (pid $PROXY_PID) had already stopped: $(tail -3 "$WORK"/proxy*.err)"
    start_proxy "$1"
    sign_in_through_proxy "$1-signin"
    SESSION_PROXY=(-H "apikey: $ANON_KEY" -H "Authorization: Bearer $PLACEHOLDER" -H "Cookie: $COOKIE")
}
# Runs PROGRAM (idle-connections, idle-websockets) against nginx and the
# proxy, with the URL and headers TARGET sets for each; NAME.json has both.
measure_idle() { # program name target
    local path pids
    for path in nginx proxy; do
        read -ra pids <<<"$(hop_pids "$path")"
        "$3" "$path"
        "$BIN/$1" "$IDLE_URL" "$IDLE_CONNS" "$(
            IFS=,
            echo "${pids[*]}"
        )" "${IDLE_HEADERS[@]}" >"$WORK/$2-$path.json"
        log "  $path: $(cat "$WORK/$2-$path.json")"
    done
    jq -n --slurpfile nginx "$WORK/$2-nginx.json" --slurpfile proxy "$WORK/$2-proxy.json" \
        '{nginx: $nginx[0], proxy: $proxy[0]}' >"$WORK/$2.json"
}
keep_alive_target() { # path: a `rest-session` request
    workload rest-session "$1"
    IDLE_URL=$(base_url "$1")$URL_PATH IDLE_HEADERS=()
    for h in "${HDRS[@]}"; do [[ $h == -H ]] || IDLE_HEADERS+=("$h"); done
}
# A fresh proxy (after the load, the first one's allocator reuses memory the
# load left behind, and its lanes' upstream connections are parked), signed
# in afresh (its `memory:` store is its own); nginx as it is.
log "memory per idle keep-alive connection ($IDLE_CONNS connections that made one request each)"
restart_proxy proxy-idle
measure_idle idle-connections idle keep_alive_target

# ---- memory per idle Realtime WebSocket --------------------------------------------
# Each socket joins its own channel (through the hop, the origin nginx, to
# the stand-in Realtime) and stays open; a fresh proxy again, so memory the
# idle connections left to its allocator is not reused.
websocket_target() { # path: the upgrade a browser's supabase-js makes
    IDLE_URL="ws://$(base_url "$1" | sed 's|^http://||')/realtime/v1/websocket?apikey=$ANON_KEY&vsn=2.0.0"
    IDLE_HEADERS=("Origin: $APP_ORIGIN")
    if [[ $1 == proxy ]]; then IDLE_HEADERS+=("Cookie: $COOKIE"); fi
}
log "memory per idle Realtime WebSocket ($IDLE_CONNS joined sockets)"
restart_proxy proxy-ws
measure_idle idle-websockets websockets websocket_target

# ---- the report ----------------------------------------------------------------
cat >"$WORK/meta.json" <<EOF
{
  "command": $(jq -Rn --arg c "$COMMAND" '$c'),
  "started_at": "$STARTED_AT",
  "elapsed_s": $SECONDS,
  "nproc": $(nproc),
  "cpu_model": $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' | jq -Rs 'rtrimstr("\n")'),
  "mem_total": $(awk '/MemTotal/ {printf "\"%.1f GiB\"", $2 / 1048576}' /proc/meminfo),
  "kernel": "$(uname -r)",
  "rustc": "$(rustc --version)",
  "nginx": "$(nginx -v 2>&1 | sed 's/.*: //')",
  "wrk": "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')",
  "pinned": $PIN,
  "unpinned_workloads": $(jq -Rn --arg w "$([[ -n $UNPINNED_RAW ]] && echo "$UNPINNED_WORKLOADS")" '$w'),
  "rt_at_one_connection": $RT,
  "duration_s": $DURATION,
  "warmup_s": $WARMUP,
  "rounds": $ROUNDS,
  "bulk_rounds": $(rounds_of download-1mib),
  "bulk_duration_s": $(duration_of download-1mib),
  "conns": "$CONNS",
  "proxy_git": "$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- crates || echo '+local changes')"
}
EOF
python3 "$BENCH_DIR/report.py" "$WORK/meta.json" "$RAW" "$WORK/session-memory.json" "$WORK/idle.json" \
    "$WORK/websockets.json" ${UNPINNED_RAW:+"$UNPINNED_RAW"} >"$OUT"
cp "$RAW" "${OUT%.md}.tsv"
[[ -z $UNPINNED_RAW ]] || cp "$UNPINNED_RAW" "${OUT%.md}-unpinned.tsv"
log "done in ${SECONDS}s: $OUT (raw figures: ${OUT%.md}.tsv)"
