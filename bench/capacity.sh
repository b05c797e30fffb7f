#!/usr/bin/env bash
# bench/capacity.sh: the capacity run behind docs/SCALING.md. Two proxies
# share one Redis; 100,000 sessions are signed in across them, then a mixed
# load runs for a bounded time; writes bench/CAPACITY.md (+ CAPACITY.tsv).
#
#   bench/capacity.sh          100,000 sessions, 240 s of load, token lifetime 120 s (~5 min on 2 vCPU, plus the build)
#   bench/capacity.sh --quick  10,000 sessions, 45 s of load, token lifetime 40 s (~1 min)
#
# Options: --sessions N, --duration SECS (the load), --token-ttl SECS (the
# stand-in's access token lifetime), --conns N (requests in flight, default
# 64), --out FILE (default bench/CAPACITY.md; the .tsv goes beside it),
# --no-build (use the binaries in $CARGO_TARGET_DIR/release), --keep (keep
# the temp dir with every log and snapshot).
#
# What runs (loopback only, every port picked free at run time):
#   supabase-stub       the stand-in Supabase, the proxies' upstream (Auth
#                       and PostgREST: it verifies every token it is sent)
#   redis-server        one, persistence off, the proxies' shared store
#   sb-cookie-proxy x2  PROXY_SESSION_STORE=redis://, one PROXY_STORE_KEY,
#                       default workers (one per CPU), admin listener on
#   capacity-load       the client (bench/src/capacity/): sign-ups at the
#                       stand-in, sign-ins through the proxies in turn,
#                       then visits of random sessions on random instances
#                       (GET /edge/v1/session + 3 GET /rest/v1/todos)
#
# Snapshots before the sign-ins, after them, in the middle of the load and
# after it: each proxy's RSS, file descriptors, CPU time and /metrics;
# Redis's INFO memory, commandstats and cpu. bench/capacity_report.py turns
# them into the figures. The run never fails on a time or a rate: it fails
# when a component does not start, or when any request, store operation or
# refresh failed (they are printed).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
COMMAND="bench/capacity.sh${*:+ $*}"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/sbp-target-bench}
BIN=$CARGO_TARGET_DIR/release
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

SESSIONS=100000
DURATION=240
TOKEN_TTL=120
CONNS=64
OUT=$BENCH_DIR/CAPACITY.md
BUILD=1
KEEP_WORK=0
MODE=full
# The proxies' PROXY_REFRESH_MARGIN (its default), in seconds.
REFRESH_MARGIN=60
while (($#)); do
    case $1 in
        --quick) SESSIONS=10000 DURATION=45 TOKEN_TTL=40 MODE=quick ;;
        --sessions) SESSIONS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --token-ttl) TOKEN_TTL=$2; shift ;;
        --conns) CONNS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP_WORK=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
for n in SESSIONS DURATION TOKEN_TTL CONNS; do
    flag=${n,,}
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "--${flag//_/-} must be a positive whole number, not ${!n}"
done
((TOKEN_TTL >= 20)) || die "--token-ttl below 20 s leaves the proxies no room to refresh"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ((BUILD)); then
    log "building (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    build_binaries
fi
for bin in sb-cookie-proxy supabase-stub capacity-load; do
    [[ -x $BIN/$bin ]] || die "$BIN/$bin is missing: build it (cargo build --release --workspace --bins) or drop --no-build"
done
log "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

WORK=$(mktemp -d /tmp/sbp-capacity.XXXXXX)
SNAP=$WORK/snapshots
mkdir -p "$SNAP"
trap cleanup EXIT
trap 'exit 130' INT TERM
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SECONDS=0

# ---- the stand-in Supabase --------------------------------------------------
"$BIN/supabase-stub" --token-ttl "$TOKEN_TTL" >"$WORK/stub.out" 2>"$WORK/stub.err" &
STARTED_PIDS+=($!)
STUB_PID=$!
STUB_JSON=$(wait_for_line "$WORK/stub.out" '^\{')
STUB_URL=$(jq -r .url <<<"$STUB_JSON")
ANON_KEY=$(jq -r .anon_key <<<"$STUB_JSON")

# ---- Redis --------------------------------------------------------------------
# Persistence off: the figures are memory and operations, not disk writes
# (production runs appendonly yes; docs/OPERATIONS.md).
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" --maxclients 1000 &
STARTED_PIDS+=($!)
REDIS_PID=$!
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
for ((i = 0; i < 100; i++)); do
    [[ $(rcli ping 2>/dev/null) == PONG ]] && break
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited: $(tail -3 "$WORK/redis.log")"
    sleep 0.1
done
[[ $(rcli ping 2>/dev/null) == PONG ]] || die "redis-server does not answer on port $REDIS_PORT"

# ---- two proxies sharing it ---------------------------------------------------
APP_ORIGIN=http://127.0.0.1:8787
STORE_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
PROXY_PIDS=() PROXY_URLS=() ADMIN_URLS=()
for n in 0 1; do
    SUPABASE_URL=$STUB_URL SUPABASE_ANON_KEY=$ANON_KEY \
        PROXY_LISTEN=127.0.0.1:0 PROXY_ADMIN_LISTEN=127.0.0.1:0 PROXY_PUBLIC_URL=$APP_ORIGIN \
        PROXY_SESSION_STORE=redis://127.0.0.1:$REDIS_PORT/0 PROXY_STORE_KEY=$STORE_KEY \
        PROXY_REFRESH_MARGIN=${REFRESH_MARGIN}s PROXY_AUTH_RATE_LIMIT=off RUST_LOG=warn \
        "$BIN/sb-cookie-proxy" >"$WORK/proxy$n.out" 2>"$WORK/proxy$n.err" &
    STARTED_PIDS+=($!)
    PROXY_PIDS+=($!)
    PROXY_URLS+=("http://$(wait_for_line "$WORK/proxy$n.out" 'listening on' | sed -E 's|.*http://||')")
    ADMIN_URLS+=("http://$(wait_for_line "$WORK/proxy$n.out" 'admin listener on' | sed -E 's|.*http://||')")
done
for n in 0 1; do
    for ((i = 0; i < 100; i++)); do
        curl -sf -o /dev/null --max-time 1 "${ADMIN_URLS[n]}/readyz" && break
        kill -0 "${PROXY_PIDS[n]}" 2>/dev/null || die "proxy $n exited: $(tail -3 "$WORK/proxy$n.err")"
        sleep 0.1
    done
    curl -sf -o /dev/null --max-time 1 "${ADMIN_URLS[n]}/readyz" ||
        die "proxy $n is not ready: $(curl -s --max-time 1 "${ADMIN_URLS[n]}/readyz")"
done
log "stand-in $STUB_URL, redis 127.0.0.1:$REDIS_PORT, proxies ${PROXY_URLS[*]}"

# ---- snapshots ------------------------------------------------------------------
# snapshot NAME: every figure of every component now, under $SNAP/NAME.*
snapshot() {
    local name=$1 n pid
    for n in 0 1; do
        pid=${PROXY_PIDS[n]}
        curl -sf --max-time 5 "${ADMIN_URLS[n]}/metrics" >"$SNAP/$name.metrics$n" ||
            die "proxy $n's /metrics does not answer"
        printf 'rss_kib\t%s\nfds\t%s\ncpu_ticks\t%s\nthreads\t%s\n' \
            "$(mem_kib VmRSS "$pid")" "$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)" \
            "$(cpu_ticks "$pid")" "$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status")" \
            >"$SNAP/$name.proc$n"
    done
    rcli info memory >"$SNAP/$name.redis-memory"
    rcli info commandstats >"$SNAP/$name.redis-commandstats"
    rcli info cpu >"$SNAP/$name.redis-cpu"
    rcli info clients >"$SNAP/$name.redis-clients"
    rcli dbsize >"$SNAP/$name.redis-dbsize"
    printf 'rss_kib\t%s\ncpu_ticks\t%s\n' "$(mem_kib VmRSS "$REDIS_PID")" "$(cpu_ticks "$REDIS_PID")" \
        >"$SNAP/$name.redis-proc"
    printf 'cpu_ticks\t%s\n' "$(cpu_ticks "$STUB_PID")" >"$SNAP/$name.stub-proc"
    date +%s.%N >"$SNAP/$name.time"
}

# The stand-in keeps a record of every request for tests; dropping it now
# and then keeps its memory flat over hundreds of thousands of requests.
clear_stub_record() { curl -sf -X POST --max-time 5 "$STUB_URL/__stub/clear" >/dev/null || true; }

# ---- sessions -------------------------------------------------------------------
sleep 1
snapshot start
log "signing up $SESSIONS users at the stand-in, then signing each in through the proxies in turn ($CONNS at once)"
"$BIN/capacity-load" sessions --stub "$STUB_URL" --anon-key "$ANON_KEY" --origin "$APP_ORIGIN" \
    --proxies "$(IFS=,; echo "${PROXY_URLS[*]}")" --count "$SESSIONS" --conns "$CONNS" \
    --out "$WORK/sessions.tsv" >"$WORK/sessions.json" 2>"$WORK/sessions.err" ||
    die "capacity-load sessions failed: $(tail -5 "$WORK/sessions.err")"
log "$(jq -r '"\(.sessions) sessions in \(.sign_in_secs | floor) s (\(.sign_ins_per_second | floor) sign-ins/s), \(.sign_up.error_total + .sign_in.error_total) errors"' "$WORK/sessions.json")"
clear_stub_record
# The use recorded at sign-in is written in the background: let it land.
sleep 3
snapshot signed-in
# What one stored session's keys take in Redis, from a sample of them.
# (head stops reading early: the scan's broken pipe is expected.)
for kind in s u; do
    { rcli --scan --pattern "sbp:$kind:*" || true; } | head -200 >"$SNAP/keys.$kind"
    while read -r key; do rcli memory usage "$key" samples 0; done <"$SNAP/keys.$kind" >"$SNAP/key-bytes.$kind"
done
# snapshot_fields FILE: each field of 20 sampled session hashes and its length.
snapshot_fields() {
    local key field
    head -20 "$SNAP/keys.s" | while read -r key; do
        rcli hkeys "$key" | while read -r field; do
            printf '%s\t%s\n' "$field" "$(rcli hstrlen "$key" "$field")"
        done
    done >"$1"
}
snapshot_fields "$SNAP/key-fields.signed-in"
rcli --scan | sed -E 's/^(sbp:[a-z]+):.*/\1:*/' | sort | uniq -c >"$SNAP/key-kinds"

# ---- the mixed load ---------------------------------------------------------------
log "mixed load for $DURATION s: random sessions on random instances ($CONNS visits at once)"
snapshot load-start
"$BIN/capacity-load" load --anon-key "$ANON_KEY" --proxies "$(IFS=,; echo "${PROXY_URLS[*]}")" \
    --sessions "$WORK/sessions.tsv" --secs "$DURATION" --conns "$CONNS" \
    --token-ttl "$TOKEN_TTL" --refresh-margin "$REFRESH_MARGIN" \
    >"$WORK/load.json" 2>"$WORK/load.err" &
LOAD_PID=$!
STARTED_PIDS+=($LOAD_PID)
HALF=$((DURATION / 2))
for ((t = 0; t < DURATION; t += 10)); do
    if ((t == HALF / 10 * 10)); then snapshot load-mid; fi
    clear_stub_record
    sleep 10
    kill -0 "$LOAD_PID" 2>/dev/null || break
done
wait "$LOAD_PID" || die "capacity-load load failed: $(tail -5 "$WORK/load.err")"
snapshot loaded
clear_stub_record
# The same sessions' hashes again, now that their tokens were refreshed.
while read -r key; do rcli memory usage "$key" samples 0; done <"$SNAP/keys.s" >"$SNAP/key-bytes-loaded.s"
snapshot_fields "$SNAP/key-fields.loaded"
log "$(jq -r '"\(.requests) requests in \(.secs | floor) s (\(.requests_per_second | floor) req/s), \(.load.error_total) errors"' "$WORK/load.json")"

# ---- the report -------------------------------------------------------------------
for n in 0 1; do
    kill -0 "${PROXY_PIDS[n]}" 2>/dev/null || die "proxy $n exited during the run: $(tail -5 "$WORK/proxy$n.err")"
done
cat >"$WORK/run.json" <<EOF
{"command": "$COMMAND", "mode": "$MODE", "started_at": "$STARTED_AT", "secs": $SECONDS,
 "sessions_asked": $SESSIONS, "duration": $DURATION, "token_ttl": $TOKEN_TTL,
 "refresh_margin": $REFRESH_MARGIN, "conns": $CONNS, "cpus": $(nproc),
 "cpu_model": "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)",
 "mem_gib": $(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo),
 "kernel": "$(uname -r)", "redis": "$(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/')",
 "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "clk_tck": $(getconf CLK_TCK), "load_average_end": "$(cut -d' ' -f1-3 /proc/loadavg)"}
EOF
python3 "$BENCH_DIR/capacity_report.py" "$WORK" "$OUT"
