# The profile of `bench/run.sh --profile`: sourced by run.sh once the stack is
# up (it uses run.sh's variables and functions), writes bench/profile/.
#
#   perf-self.txt      where the proxy's CPU time goes, by function (self time)
#   perf-children.txt  the same, inclusive of callees
#   perf-dso.txt       the same, by binary (kernel, the proxy, libc)
#   perf.data          the samples, for `perf report -i` (large: not for git)
#   perf-nginx-*.txt   the nginx reverse proxy under the same load, for contrast
#   counts.txt         allocator calls and system calls per request, proxy
#                      and nginx side by side
#   instructions.txt   instructions per request (valgrind's callgrind), proxy
#                      and nginx side by side: repeatable on a busy machine,
#                      where times move by 10-20% from run to run
#
# Connections: 32, or PROFILE_CONNS from the environment.
# CPU samples come from the cpu-clock software event (this VM has no hardware
# counters) with DWARF call graphs; allocator calls from uprobes on libc's
# malloc/calloc/realloc/free, system calls from raw_syscalls:sys_enter, both
# counted with `perf stat -p` over a whole wrk run and divided by its requests.

PROFILE_DIR=$BENCH_DIR/profile

# perf report pads its columns to the longest Rust symbol: squeeze blanks,
# drop empty lines, cut very long generic names.
tidy() { sed -E 's/ {2,}/ /g; s/ - - *$//' | grep -v '^$' | cut -c1-220; }
PROBES=(malloc calloc realloc free)
# The proxy's allocator is mimalloc, linked in: Rust's alloc, alloc_zeroed,
# realloc and dealloc call these, counted under libc's names.
# (Event names are unique across groups, hence the prefix, dropped in counts.txt.)
PROXY_PROBES=(proxy_malloc=mi_malloc_aligned proxy_calloc=mi_zalloc_aligned
    proxy_realloc=mi_realloc_aligned proxy_free=mi_free)
PROBES_ADDED=0

remove_probes() {
    ((PROBES_ADDED)) || return 0
    local p
    for p in "${PROBES[@]}"; do
        perf probe -q -d "probe_libc:$p" 2>/dev/null || true
        perf probe -q -d "probe_proxy:proxy_$p" 2>/dev/null || true
    done
    PROBES_ADDED=0
}

# Runs wrk for the workload against a path while `perf stat` counts EVENTS in
# the hop's processes; prints "requests event=count ...".
count_per_run() { # workload path conns events
    local name=$1 path=$2 conns=$3 events=$4 pids url stat_pid
    workload "$name" "$path"
    url=$(base_url "$path")$URL_PATH
    read -ra pids <<<"$(hop_pids "$path")"
    run_wrk 1 "$conns" "$url" >/dev/null
    rm -f "$WORK/stat.csv"
    perf stat -x, -e "$events" -p "$(IFS=,; echo "${pids[*]}")" -o "$WORK/stat.csv" 2>"$WORK/stat.err" &
    stat_pid=$!
    sleep 0.3
    run_wrk "$DURATION" "$conns" "$url" >"$WORK/wrk.out"
    kill -INT "$stat_pid"
    wait "$stat_pid" || true
    local requests
    requests=$(sed -nE 's/^BENCH requests=([0-9]+).*/\1/p' "$WORK/wrk.out")
    printf '%s' "$requests"
    [[ -s $WORK/stat.csv ]] || die "perf stat counted nothing: $(cat "$WORK/stat.err")"
    awk -F, '$1 ~ /^[0-9]+$/ { printf " %s=%s", $3, $1 }' "$WORK/stat.csv"
    echo
}

# "SIZE,WAYS,LINE" of this machine's cache at sysfs index $1 (0: L1 data,
# 2: L2), for callgrind's simulator.
cache_geometry() {
    local d=/sys/devices/system/cpu/cpu0/cache/index$1 size
    size=$(cat "$d/size")
    [[ $size == *K ]] || die "unexpected cache size $size in $d"
    echo "$((${size%K} * 1024)),$(cat "$d/ways_of_associativity"),$(cat "$d/coherency_line_size")"
}

# " L1d-misses/req=N L2-misses/req=N" from a callgrind output with the cache
# simulated (data reads and writes; L2 stands in callgrind's "LL").
cache_misses() { # out requests
    awk -v req="$2" '/^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
        /^(summary|totals):/ {
            printf " L1d-misses/req=%.0f L2-misses/req=%.0f",
                ($(col["D1mr"]) + $(col["D1mw"])) / req, ($(col["DLmr"]) + $(col["DLmw"])) / req
            exit }' "$1"
}

# Instructions the hop executes per request, counted by callgrind in a second
# instance of it started under valgrind (a proxy signed in afresh, its
# `memory:` store being its own; nginx as one process): counters zeroed after
# a warm-up, dumped after a wrk run, divided by the run's requests.
count_instructions() { # conns
    local conns=$1 port nginx_port proxy_url cookie pid name path url out requests ir misses
    command -v valgrind >/dev/null || die "valgrind is missing (Debian package valgrind)"
    local sim=()
    ((CACHE_SIM)) && sim=(--cache-sim=yes "--D1=$(cache_geometry 0)" "--LL=$(cache_geometry 2)")
    port=$(free_port)
    nginx_port=$(free_port)
    SUPABASE_URL=$ORIGIN SUPABASE_ANON_KEY=$ANON_KEY PROXY_LISTEN=127.0.0.1:$port \
        PROXY_PUBLIC_URL=$APP_ORIGIN PROXY_SESSION_STORE=memory: PROXY_AUTH_RATE_LIMIT=off RUST_LOG=warn \
        "${HOP[@]}" valgrind -q --tool=callgrind "${sim[@]}" --callgrind-out-file="$WORK/callgrind.proxy" \
        "$BIN/sb-cookie-proxy" >"$WORK/cg-proxy.out" 2>"$WORK/cg-proxy.err" &
    STARTED_PIDS+=($!)
    local proxy_pid=$!
    proxy_url=http://127.0.0.1:$port
    wait_for_http "$proxy_url/edge/v1/health" 60
    cookie=$(curl -sf -D - -o /dev/null -X POST "$proxy_url/auth/v1/token?grant_type=password" \
        -H "apikey: $ANON_KEY" -H "Origin: $APP_ORIGIN" -H 'content-type: application/json' \
        -d "$CREDS" | grep -i '^set-cookie: sb-session=' | sed -E 's/^[^:]*: *//; s/;.*//' | tr -d '\r')
    [[ -n $cookie ]] || die "no session from the proxy under valgrind"
    sed -e 's/^master_process on;/master_process off;/' -e "s|front.pid|cg-front.pid|" \
        -e "s|127.0.0.1:$FRONT_PORT reuseport|127.0.0.1:$nginx_port|" "$WORK/front.conf" >"$WORK/cg-front.conf"
    "${HOP[@]}" valgrind -q --tool=callgrind "${sim[@]}" --callgrind-out-file="$WORK/callgrind.nginx" \
        nginx -p "$WORK" -c "$WORK/cg-front.conf" -e "$WORK/cg-front-error.log" >"$WORK/cg-nginx.out" 2>&1 &
    STARTED_PIDS+=($!)
    local nginx_pid=$!
    wait_for_http "http://127.0.0.1:$nginx_port/rest/v1/todos" 60
    echo "# instructions per request of the hop (callgrind, user space only), one"
    echo "# $DURATION s wrk run at $conns connections each; $(date -u +%FT%TZ)"
    for name in ${PROFILE_WORKLOADS:-rest-session edge-session}; do
        for path in nginx proxy; do
            workload "$name" "$path"
            if [[ $path == proxy ]]; then
                pid=$proxy_pid url=$proxy_url$URL_PATH
                HDRS=("${HDRS[@]/#Cookie: */Cookie: $cookie}")
            else
                pid=$nginx_pid url=http://127.0.0.1:$nginx_port$URL_PATH
            fi
            run_wrk 1 "$conns" "$url" >/dev/null
            callgrind_control -z "$pid" >/dev/null 2>&1
            run_wrk "$DURATION" "$conns" "$url" >"$WORK/wrk.out"
            rm -f "$WORK/callgrind.$path".*
            callgrind_control -d "$pid" >/dev/null 2>&1
            requests=$(sed -nE 's/^BENCH requests=([0-9]+).*/\1/p' "$WORK/wrk.out")
            grep -q ' status=0 ' "$WORK/wrk.out" || die "$name via $path under valgrind: $(cat "$WORK/wrk.out")"
            out=$WORK/callgrind-$name-$path.out # for callgrind_annotate
            mv "$(ls -t "$WORK/callgrind.$path".* | head -1)" "$out"
            ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
            misses=
            ((CACHE_SIM)) && misses=$(cache_misses "$out" "$requests")
            printf '%-13s %-6s requests=%-7s instructions/req=%d%s\n' "$name" "$path" "$requests" $((ir / requests)) "$misses"
        done
    done
}

run_profile() {
    command -v perf >/dev/null || die "perf is missing (Debian package linux-perf)"
    mkdir -p "$PROFILE_DIR"
    local conns=${PROFILE_CONNS:-32}

    log "profile: perf record of the proxy, rest-session, $conns connections"
    workload rest-session proxy
    run_wrk 1 "$conns" "$PROXY$URL_PATH" >/dev/null
    run_wrk "$DURATION" "$conns" "$PROXY$URL_PATH" >"$WORK/wrk.out" &
    local wrk_pid=$!
    sleep 0.5
    perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$PROXY_PID" \
        -o "$WORK/perf.data" -- sleep $((DURATION > 3 ? DURATION - 2 : 1)) 2>/dev/null
    wait "$wrk_pid"
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none \
        --percent-limit 0.4 2>/dev/null | tidy >"$PROFILE_DIR/perf-self.txt"
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none \
        --percent-limit 2 2>/dev/null | tidy >"$PROFILE_DIR/perf-children.txt"
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none \
        2>/dev/null | tidy >"$PROFILE_DIR/perf-dso.txt"
    cp "$WORK/perf.data" "$PROFILE_DIR/perf.data" # for perf report -i, not to commit

    log "profile: the same for the nginx reverse proxy (by binary only)"
    workload rest-session nginx
    run_wrk "$DURATION" "$conns" "$FRONT$URL_PATH" >"$WORK/wrk.out" &
    wrk_pid=$!
    sleep 0.5
    perf record -q -e cpu-clock -F 1999 -g -p "$(nginx_pids "$WORK/front.pid" | tr ' ' ,)" \
        -o "$WORK/perf-nginx.data" -- sleep $((DURATION > 3 ? DURATION - 2 : 1)) 2>"$WORK/perf-nginx.err" ||
        log "perf record of nginx failed: $(cat "$WORK/perf-nginx.err")"
    wait "$wrk_pid"
    perf report -i "$WORK/perf-nginx.data" --no-children --sort dso --stdio -g none \
        2>/dev/null | tidy >"$PROFILE_DIR/perf-nginx-dso.txt"
    perf report -i "$WORK/perf-nginx.data" --no-children --sort symbol --stdio -g none \
        --percent-limit 0.8 2>/dev/null | tidy >"$PROFILE_DIR/perf-nginx-self.txt"

    log "profile: allocator and system calls per request"
    local p nginx_events=raw_syscalls:sys_enter proxy_events=raw_syscalls:sys_enter
    for p in "${PROBES[@]}"; do
        perf probe -q -x "$(ldconfig -p | awk '/libc.so.6 .*x86-64/ { print $NF; exit }')" \
            --add "$p" 2>/dev/null || true
        nginx_events+=",probe_libc:$p"
    done
    for p in "${PROXY_PROBES[@]}"; do
        perf probe -q -x "$BIN/sb-cookie-proxy" --add "probe_proxy:$p" || die "cannot probe the proxy's $p"
        proxy_events+=",probe_proxy:${p%%=*}"
    done
    PROBES_ADDED=1
    {
        echo "# per request: allocator calls (nginx: libc malloc/calloc/realloc/free; the proxy:"
        echo "# mimalloc's entry points under the same names) and system calls"
        echo "# of the hop, from perf stat over one $DURATION s wrk run; $(date -u +%FT%TZ)"
        local name path c line requests events
        for name in rest-session rest-anon edge-session; do
            for c in 1 $conns; do
                for path in nginx proxy; do
                    events=$nginx_events
                    [[ $path == proxy ]] && events=$proxy_events
                    line=$(count_per_run "$name" "$path" "$c" "$events")
                    requests=${line%% *}
                    awk -v n="$name" -v p="$path" -v c="$c" -v r="$requests" '{
                        printf "%-13s c=%-3s %-6s requests=%-8s", n, c, p, r
                        for (i = 2; i <= NF; i++) {
                            split($i, kv, "=")
                            sub(/^.*:(proxy_)?/, "", kv[1])
                            printf " %s/req=%.2f", kv[1], kv[2] / r
                        }
                        printf "\n"
                    }' <<<"$line"
                done
            done
        done
    } | tee "$PROFILE_DIR/counts.txt" >&2
    remove_probes

    log "profile: instructions per request (callgrind)"
    # Not in a pipeline: the valgrind processes must be this shell's, for cleanup.
    count_instructions "$conns" >"$PROFILE_DIR/instructions.txt"
    cat "$PROFILE_DIR/instructions.txt" >&2
    log "profile written to $PROFILE_DIR"
}
