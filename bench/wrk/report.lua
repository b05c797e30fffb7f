-- wrk script for every run of bench/run.sh.
--
-- BENCH_METHOD (optional) sets the request method; BENCH_BODY_FILE (optional)
-- is read whole and sent as the body of every request (wrk adds
-- Content-Length). Headers come from wrk's -H options.
--
-- done() prints one machine-readable line that run.sh parses:
-- BENCH requests=... duration_us=... errors... p50=... p99=... p999=... (µs)

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
end

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50=%d p90=%d p99=%d p999=%d max=%d mean=%.1f\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
