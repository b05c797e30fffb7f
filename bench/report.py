#!/usr/bin/env python3
"""Turns the raw figures of bench/run.sh into bench/RESULTS.md (on stdout).

Usage: report.py META_JSON RAW_TSV SESSION_MEMORY_JSON [IDLE_JSON WEBSOCKETS_JSON [UNPINNED_RAW_TSV]]

RAW_TSV is the layout of the run (pinned unless --layout unpinned);
UNPINNED_RAW_TSV, from a `both` run, the unpinned layout with default settings.
"""

import csv
import json
import sys

WORKLOADS = {
    "rest-session": "GET /rest/v1/todos (small JSON) with a session",
    "rest-close": "GET /rest/v1/todos (small JSON) with a session, a new connection per request (`Connection: close`)",
    "rest-anon": "GET /rest/v1/todos (small JSON) without a session",
    "download-1mib": "1 MiB response (GET /functions/v1/bytes)",
    "upload-1mib": "1 MiB upload (POST /storage/v1/object/...)",
    "edge-session": "GET /edge/v1/session (nginx: a fixed body of the same bytes)",
    "sign-in": "sign-in (POST /auth/v1/token?grant_type=password, to the stand-in Auth)",
}
PATHS = ("direct", "nginx", "proxy")


def load_rows(path):
    """One row per (workload, conns, path): the median round by req/s, with
    the lowest and highest req/s of all its rounds."""
    rounds = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            for k, v in r.items():
                if k not in ("workload", "path"):
                    r[k] = int(v)
            secs = r["duration_us"] / 1e6
            cpu = r["hop_ticks"] / r["clk_tck"]
            up_cpu = r["up_ticks"] / r["clk_tck"]
            r["rps"] = r["requests"] / secs
            r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
            r["cpu_per_10k"] = cpu / r["requests"] * 10_000 if r["requests"] else float("nan")
            r["cpu_pct"] = 100 * cpu / secs
            r["up_cpu_pct"] = 100 * up_cpu / secs
            # CPU the machine spent on anything but this run (other users'
            # compilers, say), in % of one core. For "direct" the hop is the
            # origin, already counted among the upstream processes.
            ours = r["up_ticks"] + r["wrk_ticks"] + (r["hop_ticks"] if r["path"] != "direct" else 0)
            r["other_pct"] = max(0.0, 100 * (r["machine_ticks"] - ours) / r["clk_tck"] / secs)
            rounds.setdefault((r["workload"], r["conns"], r["path"]), []).append(r)
    rows = {}
    for key, runs in rounds.items():
        runs.sort(key=lambda r: r["rps"])
        median = dict(runs[(len(runs) - 1) // 2])
        median["rps_low"], median["rps_high"], median["rounds"] = runs[0]["rps"], runs[-1]["rps"], len(runs)
        rows[key] = median
    return rows


def rps(r):
    """Median req/s, and the range over the rounds when there were several."""
    text = f"{r['rps']:,.0f}"
    if r["rounds"] > 1:
        text += f" ({r['rps_low'] / 1000:,.1f}k–{r['rps_high'] / 1000:,.1f}k)"
    return text


def us(v):
    return f"{v / 1000:.2f} ms" if v >= 10_000 else f"{v} µs"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


def workload_table(rows, name, conns_list):
    out = [
        "| conns | path | req/s (median round; range) | p50 | p99 | p99.9 | errors | hop CPU s / 10k req | hop CPU % | upstream CPU % | other load % | hop peak RSS | req/s ÷ nginx | req/s ÷ direct | p99 ÷ nginx | p50 − direct |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in conns_list:
        n, d = rows.get((name, c, "nginx")), rows.get((name, c, "direct"))
        for p in PATHS:
            r = rows.get((name, c, p))
            if r is None:
                continue
            vs_nginx = ratio(r["rps"], n["rps"]) if p == "proxy" and n else ""
            vs_direct = ratio(r["rps"], d["rps"]) if p != "direct" and d else ""
            p99_nginx = ratio(r["p99_us"], n["p99_us"]) if p == "proxy" and n else ""
            added = f"{r['p50_us'] - d['p50_us']:+d} µs" if p != "direct" and d else ""
            rss = mib(r["hop_hwm_kib"])
            if p == "proxy":
                rss += f" ({mib(r['hop_rss_before_kib'])} → {mib(r['hop_rss_after_kib'])})"
            out.append(
                f"| {c} | {p} | {rps(r)} | {us(r['p50_us'])} | {us(r['p99_us'])} | {us(r['p999_us'])} "
                f"| {r['errors']} | {r['cpu_per_10k']:.3f} | {r['cpu_pct']:.0f} | {r['up_cpu_pct']:.0f} | {r['other_pct']:.0f} | {rss} "
                f"| {vs_nginx} | {vs_direct} | {p99_nginx} | {added} |"
            )
    return "\n".join(out)


def verdict(ok):
    return "**met**" if ok else "**not met**"


def targets(rows, conns_list, mem):
    lines = ["| target | figures | verdict |", "|---|---|---|"]

    def get(w, c, p):
        return rows.get((w, c, p))

    # 1. small requests with a session: throughput >= nginx, p99 <= nginx.
    parts, ok = [], True
    for c in conns_list:
        p, n = get("rest-session", c, "proxy"), get("rest-session", c, "nginx")
        if p and n:
            good = p["rps"] >= n["rps"] and p["p99_us"] <= n["p99_us"]
            ok &= good
            parts.append(
                f"c={c}: {p['rps']:,.0f} vs {n['rps']:,.0f} req/s ({p['rps'] / n['rps']:.2f}×), "
                f"p99 {us(p['p99_us'])} vs {us(n['p99_us'])}"
            )
    if parts:
        lines.append(f"| small request with a session: req/s ≥ nginx and p99 ≤ nginx | {'; '.join(parts)} | {verdict(ok)} |")

    # 2. /edge/v1/session >= 80% of nginx's fixed body.
    parts, ok = [], True
    for c in conns_list:
        p, n = get("edge-session", c, "proxy"), get("edge-session", c, "nginx")
        if p and n:
            ok &= p["rps"] >= 0.8 * n["rps"]
            parts.append(f"c={c}: {p['rps']:,.0f} vs {n['rps']:,.0f} req/s ({100 * p['rps'] / n['rps']:.0f}%)")
    if parts:
        lines.append(f"| `GET /edge/v1/session` ≥ 80% of nginx's fixed body | {'; '.join(parts)} | {verdict(ok)} |")

    # 3. added p50 at 1 connection <= 100 µs over direct.
    parts, ok = [], True
    for w in ("rest-session", "rest-anon"):
        p, d = get(w, 1, "proxy"), get(w, 1, "direct")
        if p and d:
            added = p["p50_us"] - d["p50_us"]
            ok &= added <= 100
            parts.append(f"{w}: p50 {us(p['p50_us'])} vs {us(d['p50_us'])} direct (+{added} µs)")
    if parts:
        lines.append(f"| added latency at 1 connection ≤ 100 µs at p50 | {'; '.join(parts)} | {verdict(ok)} |")

    # 4. 1 MiB transfers within 10% of nginx, flat proxy memory.
    parts, ok = [], True
    for w in ("download-1mib", "upload-1mib"):
        for c in conns_list:
            p, n = get(w, c, "proxy"), get(w, c, "nginx")
            if p and n:
                good = p["rps"] >= 0.9 * n["rps"]
                ok &= good
                parts.append(f"{w} c={c}: {100 * p['rps'] / n['rps']:.0f}% of nginx")
    peaks = [
        rows[k]["hop_hwm_kib"] for k in rows if k[0] in ("download-1mib", "upload-1mib") and k[2] == "proxy"
    ]
    if parts:
        flat = f"proxy peak RSS during the 1 MiB runs at most {mib(max(peaks))}" if peaks else ""
        lines.append(f"| 1 MiB transfers within 10% of nginx, flat memory | {'; '.join(parts)}; {flat} | {verdict(ok)} |")

    # 5. memory per cached session.
    if mem:
        per = mem["total_rss_per_session"]
        lines.append(
            f"| ≤ 4 KiB per cached session | {per / 1024:.2f} KiB RSS per session with the `memory:` store "
            f"({mem['store_rss_per_session'] / 1024:.2f} KiB the store's copy + "
            f"{mem['cache_rss_per_session'] / 1024:.2f} KiB the cache's); see below | {verdict(per <= 4096)} |"
        )
    return "\n".join(lines)


def unpinned_targets(rows, conns_list):
    """Issue 16's targets for the unpinned layout with default settings."""
    lines = ["| target | figures | verdict |", "|---|---|---|"]
    for name, title in (
        ("rest-session", "small request with a session: req/s ≥ nginx"),
        ("edge-session", "`GET /edge/v1/session` req/s ≥ nginx's fixed body"),
    ):
        parts, ok = [], True
        for c in conns_list:
            p, n = rows.get((name, c, "proxy")), rows.get((name, c, "nginx"))
            if p and n:
                ok &= p["rps"] >= n["rps"]
                parts.append(
                    f"c={c}: {p['rps']:,.0f} vs {n['rps']:,.0f} req/s ({p['rps'] / n['rps']:.2f}×), "
                    f"CPU {p['cpu_per_10k'] * 100:.1f} vs {n['cpu_per_10k'] * 100:.1f} µs/req"
                )
        if parts:
            lines.append(f"| {title} | {'; '.join(parts)} | {verdict(ok)} |")
    return "\n".join(lines)


def unpinned_section(rows, conns_list):
    out = [
        "# Unpinned, default settings\n",
        "The same workloads with nothing pinned, as users run it: wrk (2 threads), the origin and front "
        "nginx (`worker_processes auto`) and the proxy with its default settings (a worker thread per "
        "CPU, each with its own listener) share every CPU, placed by the OS; no SCHED_FIFO. The hops "
        "compete with their clients and upstream for the cores, so req/s here is what the machine as a "
        "whole gets through each hop, and hop CPU per request includes the cost of sharing. Its own "
        "stack, started after the pinned runs.\n",
        "## Targets (issue 16)\n",
        unpinned_targets(rows, conns_list),
        "",
    ]
    for name, title in WORKLOADS.items():
        if any(k[0] == name for k in rows):
            out += [f"## {title} (unpinned)\n", workload_table(rows, name, conns_list), ""]
    return "\n".join(out)


def memory_section(mem):
    if not mem:
        return "_not measured_"
    kib = lambda b: f"{b / 1024:.2f} KiB"  # noqa: E731
    return "\n".join(
        [
            f"{mem['sessions']:,} sessions with realistic content (a Supabase user object of "
            f"{mem['user_json_bytes']} bytes of JSON, a {mem['access_token_bytes']}-byte access token) "
            f"inserted through `SessionCache` over the `memory:` store "
            f"(`bench/src/session_memory.rs`; {mem['cached']:,} of them held by the cache, capacity "
            f"{mem['cache_capacity']:,}).",
            "",
            "| | heap (allocator count) | RSS |",
            "|---|---:|---:|",
            f"| per session, total | {kib(mem['total_heap_per_session'])} | {kib(mem['total_rss_per_session'])} |",
            f"| the `memory:` store's copy | {kib(mem['store_heap_per_session'])} | {kib(mem['store_rss_per_session'])} |",
            f"| the cache's copy (`Arc<Session>` + key + entry) | {kib(mem['cache_heap_per_session'])} | {kib(mem['cache_rss_per_session'])} |",
            "",
            f"One `Session`: {mem['session_inline_bytes']} bytes inline + {mem['session_heap_bytes']:,} bytes "
            f"on the heap, of which the user object (kept as its compact JSON text) is "
            f"{mem['user_heap_bytes']:,} bytes and the tokens {mem['tokens_heap_bytes']:,} bytes. "
            f"The `memory:` store and the cache share one `Arc<Session>`, so the cache's part is its entry "
            f"and key only.",
        ]
    )


def rss_table(results, per_label):
    rows = [f"| path | RSS before | RSS after | {per_label} |", "|---|---:|---:|---:|"]
    for name in ("nginx", "proxy"):
        r = results[name]
        rows.append(
            f"| {name} | {mib(r['rss_before_kib'])} | {mib(r['rss_after_kib'])} | {r['per_one_kib']:.1f} KiB |"
        )
    return rows


def idle_section(idle):
    if not idle:
        return "_not measured_"
    intro = (
        f"{idle['proxy']['count']:,} keep-alive connections to the hop, each of which made one "
        "`GET /rest/v1/todos` (with the session cookie) and read the answer, then all held open "
        "(`bench/src/idle_connections.rs`); the hop's RSS before and half a second after (a fresh "
        "proxy, started after the load; nginx as the load left it). Kernel socket buffers are not in "
        "RSS. The proxy's figure includes the upstream connection each browser connection holds (its "
        "lane; parked for other browser connections after 2 s idle, kept at most 60 s, at most 256); "
        "nginx keeps up to 512 idle upstream connections (`keepalive 512`)."
    )
    return "\n".join([intro, ""] + rss_table(idle, "per idle connection"))


def websocket_section(ws):
    if not ws:
        return "_not measured_"
    intro = (
        f"{ws['proxy']['count']:,} Realtime WebSockets through the hop (the proxy with the session "
        "cookie, or nginx passing the upgrade through with its default buffers), each joined to its own "
        "channel at the stand-in Realtime behind the origin nginx, then all held open "
        "(`bench/src/idle_websockets.rs`); the hop's RSS before and two seconds after (a fresh proxy; "
        "nginx as the load left it). Kernel socket buffers are not in RSS; each socket is two TCP "
        "connections at the hop (browser side and upstream side) in both cases."
    )
    return "\n".join([intro, ""] + rss_table(ws, "per idle WebSocket"))


def main():
    meta = json.load(open(sys.argv[1]))
    rows = load_rows(sys.argv[2])
    try:
        mem = json.load(open(sys.argv[3]))
    except (OSError, ValueError):
        mem = None
    try:
        idle = json.load(open(sys.argv[4]))
    except (IndexError, OSError, ValueError):
        idle = None
    try:
        websockets = json.load(open(sys.argv[5]))
    except (IndexError, OSError, ValueError):
        websockets = None
    try:
        unpinned = load_rows(sys.argv[6])
    except (IndexError, OSError, ValueError):
        unpinned = None
    conns_list = [int(c) for c in meta["conns"].split()]
    pin = (
        "pinned: the hop under test (front nginx with 1 worker, or the proxy, whose tokio runtime then has "
        "1 worker thread) alone on CPU 0; wrk, the origin nginx (1 worker) and the stand-in Auth on CPU 1"
        if meta["pinned"]
        else "not pinned: the OS places everything; nginx workers `auto`, the proxy with its default settings (a worker thread per CPU)"
    )
    print("# Benchmark results\n")
    print(f"Written by `{meta['command']}` on {meta['started_at']} ({meta['elapsed_s']} s in all).\n")
    print("| | |\n|---|---|")
    print(f"| machine | {meta['nproc']} CPUs, {meta['cpu_model']}, {meta['mem_total']} RAM, Linux {meta['kernel']} |")
    print(f"| versions | {meta['rustc']}; nginx {meta['nginx']}; {meta['wrk']}; proxy at {meta['proxy_git']} |")
    sched = "; 1-connection runs: the hop moved to CPU 1 with everything else (one request in flight, no cross-core wake-ups)"
    if meta.get("rt_at_one_connection"):
        sched += " and switched to SCHED_FIFO (woken at once on a busy machine)"
    if not meta["pinned"]:
        sched = ""
    print(f"| placement | {pin}; everything at nice -20 in a nice -20 scheduler autogroup{sched} |")
    bulk = (
        f" (the 1 MiB workloads {meta['bulk_rounds']} rounds of {meta['bulk_duration_s']} s: their rate depends on "
        f"how the kernel's TCP buffering settles for each connection)"
    )
    print(
        f"| runs | each workload × connections × path: {meta['warmup_s']} s warm-up, then {meta['duration_s']} s "
        f"measured; the three paths back to back, {meta.get('rounds', 1)} round(s) in alternation{bulk}, figures "
        f"from each path's median round (by req/s); wrk 1 thread; loopback |"
    )
    print()
    print(
        "Paths: **direct** = client → origin nginx; **nginx** = client → nginx reverse proxy (keep-alive "
        "upstream connections, streaming) → origin; **proxy** = client → sb-cookie-proxy with a session "
        "cookie → origin. The origin is nginx serving fixed bodies (and passing `/auth/v1` to the stand-in "
        "Auth), so it is never the limit of a hop on its own core.\n"
    )
    print(
        "Columns: latency percentiles from wrk (p99.9 via its Lua `done` hook); **hop CPU** = user+system CPU "
        "of the component under test (origin nginx for direct, front nginx for nginx, the proxy for proxy) "
        "from /proc/PID/stat, per 10k requests and as a share of one core; **upstream CPU %** = origin nginx "
        "+ stand-in Auth; **other load %** = CPU the machine spent on anything but this benchmark during the run "
        "(from /proc/stat, minus the hop, the upstream and wrk; 100 = one core), a measure of interference; **hop peak RSS** = VmHWM during the run (reset before it; for the proxy, RSS before → "
        "after in brackets); ratios are proxy ÷ nginx and hop ÷ direct; **p50 − direct** is the latency the "
        "hop adds at the median.\n"
    )
    print("## Targets (issue 3)\n")
    print(targets(rows, conns_list, mem))
    print()
    print("What stops a target that is not met, measured: `bench/PROFILE.md`, \"What stops the remaining targets\".\n")
    for name, title in WORKLOADS.items():
        if any(k[0] == name for k in rows):
            print(f"## {title}\n")
            print(workload_table(rows, name, conns_list))
            print()
    print("## Memory per cached session\n")
    print(memory_section(mem))
    print()
    print("## Memory per idle keep-alive connection\n")
    print(idle_section(idle))
    print()
    print("## Memory per idle Realtime WebSocket\n")
    print(websocket_section(websockets))
    if unpinned:
        print()
        print(unpinned_section(unpinned, conns_list))


if __name__ == "__main__":
    main()
