#!/usr/bin/env python3
"""The figures of a bench/capacity.sh run, from its temp dir.

Usage: capacity_report.py WORK_DIR OUT.md

Reads WORK_DIR/run.json, sessions.json, load.json and the snapshots
(WORK_DIR/snapshots/{start,signed-in,load-start,load-mid,loaded}.*),
prints the figures, writes OUT.md and OUT.tsv (same name, .tsv), and exits
1 when any request, store operation or refresh failed (0 otherwise: a
slow run is not a failure).
"""

import json
import os
import re
import sys

METRIC = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? ([0-9.eE+-]+)$')
LABEL = re.compile(r'([a-z_]+)="([^"]*)"')
# Store operations a refresh makes (the others serve requests and sign-ins).
REFRESH_OPS = ("lock", "renew_lock", "unlock", "update_tokens")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def metrics(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if m:
            labels = frozenset(LABEL.findall(m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def info(text):
    """A Redis INFO section as {field: value}."""
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            out[key] = value.strip()
    return out


# Commands the script itself sends to read Redis's figures.
OWN_COMMANDS = ("info", "dbsize", "memory|usage", "scan")


def commandstats(text):
    """{command: calls} from INFO commandstats, the script's own left out."""
    out = {}
    for key, value in info(text).items():
        if key.startswith("cmdstat_") and key[len("cmdstat_"):] not in OWN_COMMANDS:
            calls = re.search(r"calls=(\d+)", value)
            out[key[len("cmdstat_"):]] = int(calls.group(1)) if calls else 0
    return out


def tabbed(text):
    return {k: float(v) for k, v in (line.split("\t") for line in text.splitlines() if line)}


class Snapshot:
    def __init__(self, snap_dir, name):
        p = lambda suffix: os.path.join(snap_dir, f"{name}.{suffix}")
        self.metrics = [metrics(read(p(f"metrics{n}"))) for n in (0, 1)]
        self.proc = [tabbed(read(p(f"proc{n}"))) for n in (0, 1)]
        self.redis_memory = info(read(p("redis-memory")))
        self.redis_cpu = info(read(p("redis-cpu")))
        self.redis_clients = info(read(p("redis-clients")))
        self.commands = commandstats(read(p("redis-commandstats")))
        self.redis_proc = tabbed(read(p("redis-proc")))
        self.stub_proc = tabbed(read(p("stub-proc")))
        self.dbsize = int(read(p("redis-dbsize")).strip() or 0)
        self.time = float(read(p("time")))

    def metric(self, name, instance=None, **labels):
        """A metric summed over the instances (or one) and over the labels not given."""
        want = set(labels.items())
        total = 0.0
        for n, page in enumerate(self.metrics):
            if instance is not None and n != instance:
                continue
            for (metric_name, have), value in page.items():
                if metric_name == name and want <= have:
                    total += value
        return total

    def by_label(self, name, label, **labels):
        """{label value: metric summed over instances} for one label."""
        out = {}
        want = set(labels.items())
        for page in self.metrics:
            for (metric_name, have), value in page.items():
                if metric_name == name and want <= have:
                    key = dict(have).get(label)
                    if key is not None:
                        out[key] = out.get(key, 0.0) + value
        return out


def delta_map(after, before):
    keys = set(after) | set(before)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k, 0) != before.get(k, 0)}


def main():
    work, out_md = sys.argv[1], sys.argv[2]
    snap_dir = os.path.join(work, "snapshots")
    run = json.loads(read(os.path.join(work, "run.json")))
    sessions = json.loads(read(os.path.join(work, "sessions.json")))
    load = json.loads(read(os.path.join(work, "load.json")))
    s = {name: Snapshot(snap_dir, name) for name in ("start", "signed-in", "load-start", "load-mid", "loaded")}
    start, signed, l0, mid, l1 = (s[k] for k in ("start", "signed-in", "load-start", "load-mid", "loaded"))
    tck = run["clk_tck"]

    n_sessions = sessions["sessions"]
    per_instance = sessions["sessions_per_instance"]
    requests = load["requests"]
    load_secs = load["secs"]
    visits = load["visits"]

    figures = []  # (key, value, unit, what)

    def fig(key, value, unit, what):
        figures.append((key, value, unit, what))
        return value

    # ---- sessions and memory
    fig("sessions", n_sessions, "", "sessions signed in (across both instances)")
    fig("sessions_per_instance", "/".join(str(x) for x in per_instance), "", "sessions signed in on each instance")
    fig("sign_in_secs", round(sessions["sign_in_secs"], 1), "s", "time to sign them in")
    fig("sign_ins_per_second", round(sessions["sign_ins_per_second"]), "/s", "sign-ins per second, both instances")
    used = lambda snap: int(snap.redis_memory["used_memory"])
    redis_rss = lambda snap: int(snap.redis_memory["used_memory_rss"])
    fig("redis_bytes_per_stored_session", round((used(signed) - used(start)) / n_sessions),
        "B", "Redis used_memory growth per stored session (sign-ins)")
    fig("redis_rss_bytes_per_stored_session", round((redis_rss(signed) - redis_rss(start)) / n_sessions),
        "B", "Redis RSS growth per stored session (sign-ins)")
    fig("redis_bytes_per_session_after_load", round((used(l1) - used(start)) / n_sessions),
        "B", "Redis used_memory growth per session after the load (tokens refreshed)")
    fig("redis_keys", l1.dbsize, "", "keys in Redis after the load")
    for key, name, label in (
            ("redis_session_hash_bytes", "key-bytes.s", "a session's hash (sbp:s:*) after sign-in"),
            ("redis_user_set_bytes", "key-bytes.u", "a user's sorted set (sbp:u:*)"),
            ("redis_session_hash_bytes_loaded", "key-bytes-loaded.s", "the same session hashes after the load")):
        path = os.path.join(snap_dir, name)
        sizes = [int(x) for x in read(path).split() if x.isdigit()] if os.path.exists(path) else []
        if sizes:
            fig(key, round(sum(sizes) / len(sizes)), "B", f"MEMORY USAGE of {label}, mean of {len(sizes)}")
    for stage in ("signed-in", "loaded"):
        path = os.path.join(snap_dir, f"key-fields.{stage}")
        lengths = {}
        for line in read(path).splitlines() if os.path.exists(path) else []:
            field, length = line.split("\t")
            lengths.setdefault(field, []).append(int(length or 0))
        if lengths:
            shown = ", ".join(f"{f} {round(sum(v) / len(v))}" for f, v in sorted(lengths.items()))
            fig(f"redis_session_fields_{stage.replace('-', '_')}", shown, "B",
                f"a session hash's fields and their mean length in bytes ({stage}, 20 sessions)")
    rss = lambda snap, n: snap.proc[n]["rss_kib"] * 1024
    for n in (0, 1):
        fig(f"proxy{n}_rss_mib_start", round(rss(start, n) / 2**20, 1), "MiB", f"proxy {n} RSS before the sign-ins")
        fig(f"proxy{n}_rss_mib_signed_in", round(rss(signed, n) / 2**20, 1), "MiB", f"proxy {n} RSS after them")
        fig(f"proxy{n}_rss_mib_loaded", round(rss(l1, n) / 2**20, 1), "MiB", f"proxy {n} RSS after the load")
    cached_signin = per_instance
    cached_load = load["cached_estimate"]
    per_cached = [(rss(signed, n) - rss(start, n)) / cached_signin[n] for n in (0, 1)]
    fig("proxy_bytes_per_cached_session", round(sum(per_cached) / 2), "B",
        "proxy RSS growth per cached session (its own sign-ins; mean of the two)")
    per_cached_load = [(rss(l1, n) - rss(start, n)) / cached_load[n] for n in (0, 1)]
    fig("proxy_cached_after_load", "/".join(str(x) for x in cached_load), "",
        "sessions each instance cached by the end (signed in there or visited there; capacity 100,000)")
    fig("proxy_bytes_per_cached_session_after_load", round(sum(per_cached_load) / 2), "B",
        "proxy RSS growth per cached session after the load (mean of the two)")

    # ---- store operations per sign-in
    signin_cmds = delta_map(signed.commands, start.commands)
    signin_ops = delta_map(signed.by_label("sbp_store_operations_total", "operation"),
                           start.by_label("sbp_store_operations_total", "operation"))
    fig("redis_commands_per_sign_in", round(sum(signin_cmds.values()) / n_sessions, 2), "",
        "Redis commands per sign-in (INFO commandstats; scripts count their inner calls too)")
    fig("store_ops_per_sign_in", round(sum(signin_ops.values()) / n_sessions, 2), "",
        "proxy store operations per sign-in (sbp_store_operations_total)")

    # ---- the load
    fig("load_secs", round(load_secs, 1), "s", "length of the mixed load")
    fig("requests", requests, "", "requests of the mixed load (both instances)")
    fig("requests_per_second", round(load["requests_per_second"]), "/s", "requests per second, both instances")
    fig("visits", visits, "", "visits (GET /edge/v1/session + 3 GET /rest/v1/todos each)")
    lat = load["load"]["latency_ms"]
    fig("latency_p50_ms", lat["p50"], "ms", "request latency, median")
    fig("latency_p99_ms", lat["p99"], "ms", "request latency, p99")
    load_cmds = delta_map(l1.commands, l0.commands)
    load_ops = delta_map(l1.by_label("sbp_store_operations_total", "operation"),
                         l0.by_label("sbp_store_operations_total", "operation"))
    fig("redis_commands_per_request", round(sum(load_cmds.values()) / requests, 3), "",
        "Redis commands per request of the load, refreshes included")
    fig("store_ops_per_request", round(sum(load_ops.values()) / requests, 3), "",
        "proxy store operations per request, refreshes included")
    refreshes = delta_map(l1.by_label("sbp_refreshes_total", "outcome"),
                          l0.by_label("sbp_refreshes_total", "outcome"))
    fresh = refreshes.get("fresh", 0)
    refresh_ops = sum(v for k, v in load_ops.items() if k in REFRESH_OPS)
    fig("store_ops_per_request_without_refreshes",
        round((sum(load_ops.values()) - refresh_ops) / requests, 3), "",
        "the same without the refreshes' own operations (lock, renew_lock, unlock, update_tokens)")
    if fresh:
        fig("store_ops_per_refresh", round(refresh_ops / fresh, 2), "",
            "store operations per refresh (lock, unlock, update_tokens)")
    cache = delta_map(l1.by_label("sbp_session_cache_reads_total", "outcome"),
                      l0.by_label("sbp_session_cache_reads_total", "outcome"))
    reads = cache.get("hit", 0) + cache.get("miss", 0)
    if reads:
        fig("cache_hit_share", round(cache.get("hit", 0) / reads, 3), "",
            "session reads answered from the instance's cache (sbp_session_cache_reads_total)")
    fig("refreshes", int(fresh), "", "refreshes sent to Auth during the load (sbp_refreshes_total fresh)")
    fig("refreshes_per_second", round(fresh / load_secs, 1), "/s", "refreshes sent to Auth per second, over the load")
    second_half = l1.metric("sbp_refreshes_total", outcome="fresh") - mid.metric("sbp_refreshes_total", outcome="fresh")
    fig("refreshes_per_second_second_half", round(second_half / (l1.time - mid.time), 1), "/s",
        "the same over the load's second half")
    predicted = load["predicted_refreshes"]
    fig("refreshes_predicted", predicted, "", "refreshes the model predicts for these visits (lifetime - margin after issue, at the next forwarded request)")
    if predicted:
        fig("refreshes_measured_over_predicted", round(fresh / predicted, 3), "", "measured / predicted")

    # ---- CPU and sockets
    proxy_cpu = sum(l1.proc[n]["cpu_ticks"] - l0.proc[n]["cpu_ticks"] for n in (0, 1)) / tck
    redis_cpu = (l1.redis_proc["cpu_ticks"] - l0.redis_proc["cpu_ticks"]) / tck
    stub_cpu = (l1.stub_proc["cpu_ticks"] - l0.stub_proc["cpu_ticks"]) / tck
    fig("proxy_cpu_ms_per_request", round(proxy_cpu * 1000 / requests, 3), "ms",
        "proxy CPU time per request of the load (both instances, refreshes included)")
    fig("proxy_cpu_share", round(proxy_cpu / load_secs, 2), "cores", "proxies' CPU during the load")
    fig("redis_cpu_share", round(redis_cpu / load_secs, 2), "cores", "Redis's CPU during the load (one thread)")
    fig("stub_cpu_share", round(stub_cpu / load_secs, 2), "cores", "the stand-in's CPU during the load")
    n_cmds = sum(load_cmds.values())
    if n_cmds:
        fig("redis_cpu_us_per_command", round(redis_cpu * 1e6 / n_cmds, 2), "µs",
            "Redis CPU per command during the load")
    for n in (0, 1):
        fig(f"proxy{n}_fds_idle", int(start.proc[n]["fds"]), "", f"proxy {n} open file descriptors before the sign-ins")
        fig(f"proxy{n}_fds_load", int(mid.proc[n]["fds"]), "", f"proxy {n} open file descriptors in the middle of the load")
        fig(f"proxy{n}_threads", int(mid.proc[n]["threads"]), "", f"proxy {n} threads")
    fig("redis_clients_load", int(mid.redis_clients.get("connected_clients", 0)), "",
        "Redis connections in the middle of the load (both proxies and redis-cli)")

    # ---- errors: any of these fails the run
    errors = {}
    for step, tally in (("sign_up", sessions["sign_up"]), ("sign_in", sessions["sign_in"]), ("load", load["load"])):
        for cause, count in tally["errors"].items():
            errors[f"{step}: {cause}"] = count
    for op, count in delta_map(l1.by_label("sbp_store_errors_total", "operation"),
                               start.by_label("sbp_store_errors_total", "operation")).items():
        errors[f"store errors: {op}"] = count
    for outcome in ("revoked", "failed"):
        count = l1.metric("sbp_refreshes_total", outcome=outcome) - start.metric("sbp_refreshes_total", outcome=outcome)
        if count:
            errors[f"refreshes {outcome}"] = count
    for status in ("4xx", "5xx"):
        count = l1.metric("sbp_requests_total", status=status) - start.metric("sbp_requests_total", status=status)
        if count:
            errors[f"proxy answers {status}"] = count
    samples = sessions["sign_up"]["error_samples"] + sessions["sign_in"]["error_samples"] + load["load"]["error_samples"]
    fig("errors", int(sum(errors.values())), "", "failed requests, store operations and refreshes (must be 0)")

    write(out_md, run, figures, signin_cmds, signin_ops, load_cmds, load_ops, n_sessions, requests, fresh, errors, samples)
    width = max(len(k) for k, *_ in figures)
    for key, value, unit, _ in figures:
        print(f"{key:<{width}}  {value}{(' ' + unit) if unit else ''}")
    if errors:
        print("ERRORS:", file=sys.stderr)
        for cause, count in sorted(errors.items()):
            print(f"  {count:g}  {cause}", file=sys.stderr)
        for sample in samples:
            print(f"  e.g. {sample}", file=sys.stderr)
        sys.exit(1)
    print(f"no errors; written to {out_md}")


def per_table(rows, divisor, what):
    lines = [f"| {what} | count | per |", "|---|---:|---:|"]
    for key, count in sorted(rows.items(), key=lambda kv: -kv[1]):
        lines.append(f"| `{key}` | {count:,.0f} | {count / divisor:.3f} |")
    lines.append(f"| all | {sum(rows.values()):,.0f} | {sum(rows.values()) / divisor:.3f} |")
    return "\n".join(lines)


def write(out_md, run, figures, signin_cmds, signin_ops, load_cmds, load_ops, n_sessions, requests, fresh, errors, samples):
    tsv = os.path.splitext(out_md)[0] + ".tsv"
    with open(tsv, "w", encoding="utf-8") as f:
        f.write("figure\tvalue\tunit\n")
        for key, value, unit, _ in figures:
            f.write(f"{key}\t{value}\t{unit}\n")
    lines = [
        "# Capacity run",
        "",
        f"Written by `{run['command']}` ({run['mode']} mode) on {run['started_at']} "
        f"({run['secs']} s in all). What the figures mean and what follows from "
        "them: [docs/SCALING.md](../docs/SCALING.md).",
        "",
        "| | |",
        "|---|---|",
        f"| machine | {run['cpus']} vCPU, {run['cpu_model']}, {run['mem_gib']} GiB RAM, Linux {run['kernel']}; shared with other work, so times and rates are indicative (load average at the end: {run['load_average_end']}) |",
        f"| components | one redis-server {run['redis']} (persistence off), two sb-cookie-proxy release builds at {run['commit']} (default workers, `PROXY_SESSION_STORE=redis://`, one `PROXY_STORE_KEY`), the stand-in Supabase as upstream, the client (`capacity-load`), all on the same {run['cpus']} CPUs, loopback |",
        f"| run | {run['sessions_asked']:,} users signed up at the stand-in, each signed in once through the proxies in turn ({run['conns']} at once); then {run['duration']} s of visits to random sessions on random instances ({run['conns']} at once), each `GET /edge/v1/session` + 3 × `GET /rest/v1/todos`; access token lifetime {run['token_ttl']} s, `PROXY_REFRESH_MARGIN` {run['refresh_margin']} s |",
        "",
        "## Figures",
        "",
        "| figure | value | what |",
        "|---|---:|---|",
    ]
    for key, value, unit, what in figures:
        shown = f"{value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1000 else f"{value}"
        lines.append(f"| `{key}` | {shown}{(' ' + unit) if unit else ''} | {what} |")
    lines += [
        "",
        "## Redis commands per sign-in (INFO commandstats)",
        "",
        per_table(signin_cmds, n_sessions, "command"),
        "",
        "## Store operations per sign-in (sbp_store_operations_total)",
        "",
        per_table(signin_ops, n_sessions, "operation"),
        "",
        "## Redis commands per request of the load (INFO commandstats)",
        "",
        per_table(load_cmds, requests, "command"),
        "",
        "## Store operations per request of the load (sbp_store_operations_total)",
        "",
        per_table(load_ops, requests, "operation"),
        "",
        "## Errors",
        "",
    ]
    if errors:
        lines += [f"- {count:g} {cause}" for cause, count in sorted(errors.items())]
        lines += [f"- e.g. `{sample}`" for sample in samples]
    else:
        lines.append("None: every sign-up, sign-in and request answered as expected, no store error, no failed or revoked refresh, no 4xx or 5xx from the proxies.")
    with open(out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
