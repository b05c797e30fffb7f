# Helpers shared by bench/run.sh and bench/profile.sh: tools, processes,
# free ports, and reading a process's CPU time and memory from /proc.
# Sourced, not run. Expects `set -euo pipefail` and $WORK (a temp dir).

# Every process we start, killed on exit by cleanup().
STARTED_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs the Debian packages the harness needs when they are missing.
ensure_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx)
    [[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]] || missing+=(libnginx-mod-http-echo)
    command -v jq >/dev/null || missing+=(jq)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v taskset >/dev/null || missing+=(util-linux)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian's package may start a system nginx; ours never uses its config.
}

# Builds the proxy, the stand-in Supabase and the memory benchmark. Another
# engineer may be mid-edit in crates/: retry a failed build a few times.
build_binaries() {
    local try
    for try in 1 2 3 4 5; do
        if (cd "$ROOT" && cargo build --release -q -p sb-cookie-proxy -p sbp-stub -p sbp-bench); then
            return 0
        fi
        log "build failed (attempt $try); retrying in 60 s"
        sleep 60
    done
    die "cargo build failed"
}

# A free TCP port on 127.0.0.1, asked of the OS by binding port 0.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until FILE has a line matching REGEX (at most $3 seconds); prints it.
wait_for_line() {
    local file=$1 regex=$2 timeout=${3:-20} i
    for ((i = 0; i < timeout * 10; i++)); do
        if [[ -f $file ]] && grep -Eqm1 "$regex" "$file"; then
            grep -Em1 "$regex" "$file"
            return 0
        fi
        sleep 0.1
    done
    die "timed out waiting for /$regex/ in $file"
}

# Waits until an HTTP URL answers at all (at most $2 seconds, default 10).
wait_for_http() {
    local url=$1 timeout=${2:-10} i
    for ((i = 0; i < timeout * 10; i++)); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    die "$url does not answer"
}

# With autogroup scheduling, nice only ranks processes within one session's
# group; give this session's group the top weight for the run (restored by
# cleanup) so that other sessions' work barely competes with the benchmark.
AUTOGROUP_NICE=
raise_priority() {
    [[ -w /proc/self/autogroup ]] || return 0
    AUTOGROUP_NICE=$(sed -E 's/.*nice (-?[0-9]+).*/\1/' /proc/self/autogroup)
    echo -20 >/proc/self/autogroup 2>/dev/null || AUTOGROUP_NICE=
}

# Stops everything we started: TERM first, KILL what is still there after 5 s.
cleanup() {
    local pid i
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for pid in "${STARTED_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n $AUTOGROUP_NICE ]]; then
        echo "$AUTOGROUP_NICE" >/proc/self/autogroup 2>/dev/null || true
    fi
    if [[ -n ${WORK:-} && -d $WORK && ${KEEP_WORK:-0} != 1 ]]; then
        rm -rf "$WORK"
    fi
}

# The master process and the workers of the nginx whose pid file is $1.
nginx_pids() {
    local master
    master=$(cat "$1")
    echo "$master" $(pgrep -P "$master" || true)
}

# Sum over the given processes (all threads) of an awk expression of the
# fields of /proc/PID/stat after "pid (comm) ": $1 is the state, $8 the
# minor page faults, $12 and $13 the user and system CPU clock ticks.
proc_stat_sum() { # expression pid...
    local expression=$1 pid total=0 t
    shift
    for pid in "$@"; do
        t=$(awk "{ sub(/^.*\\) /, \"\"); print $expression }" "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

# User+system CPU clock ticks of the given processes.
cpu_ticks() { proc_stat_sum '$12 + $13' "$@"; }

# Minor page faults of the given processes: the kernel mapping in memory
# they touched (new, or handed back by the allocator).
minor_faults() { proc_stat_sum '$8' "$@"; }

# Sum of a /proc/PID/status field (VmRSS, VmHWM) in KiB over the processes.
mem_kib() {
    local field=$1 pid total=0 v
    shift
    for pid in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Resets the peak RSS (VmHWM) of the processes, so it covers one run only.
reset_peak_rss() {
    local pid
    for pid in "$@"; do
        echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
    done
}

# CPU ticks all CPUs spent busy so far (user, nice, system, irq, softirq, steal).
machine_busy_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# Sets CHILD_TICKS to the CPU ticks used so far by the finished children of
# this shell (the wrk runs), from the `times` builtin. Call it directly, not
# in $(...): a subshell starts with no children's time of its own.
children_ticks() {
    times >"$WORK/times"
    CHILD_TICKS=$(awk -v tck="$(getconf CLK_TCK)" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
        printf "%d\n", t * tck + 0.5
    }' "$WORK/times")
}
