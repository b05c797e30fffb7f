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
#
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

run_profile() {
    command -v perf >/dev/null || die "perf is missing (Debian package linux-perf)"
    mkdir -p "$PROFILE_DIR"
    local conns=32

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
    log "profile written to $PROFILE_DIR"
}
