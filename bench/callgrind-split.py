#!/usr/bin/env python3
"""bench/callgrind-split.py CALLGRIND_OUT REQUESTS [OWNER [MIN]]

Splits the proxy's instructions per request (a callgrind file of
`bench/run.sh --instructions --keep`, divided by its run's requests) by
whose code runs: the proxy's own (source files under crates/server and
crates/core), hyper (with httparse, hyper-util, want), tokio (with mio).
Code that belongs to no one of these (http's HeaderMap, bytes, the
allocator, memcpy, std) is counted for its callers, in proportion to what
each call site spent in it, by the source file of the call site (so code
of the proxy inlined into hyper's functions counts as the proxy's).
With OWNER (proxy, hyper or tokio), also lists that owner's functions
costing at least MIN (default 50) instructions per request."""
import sys, re, collections
path, req = sys.argv[1], float(sys.argv[2])
names = {'fl': {}, 'fn': {}}
def name(kind, v):
    m = re.match(r'\((\d+)\)(?: (.*))?', v)
    t = names['fn'] if kind == 'fn' else names['fl']
    if not m: return v
    if m.group(2) is not None: t[m.group(1)] = m.group(2)
    return t.get(m.group(1), v)
selfc = collections.Counter(); calls = collections.Counter()
fl = fi = fn = cfn = None; pending = False
for line in open(path):
    line = line.rstrip('\n')
    if not line: continue
    c = line[0]
    if c.isdigit() or c in '+-*':
        p = line.split()
        if len(p) < 2: continue
        ir = int(p[1])
        if pending: calls[(fi or fl, fn, cfn)] += ir; pending = False
        else: selfc[(fi or fl, fn)] += ir
        continue
    k, _, v = line.partition('=')
    if k == 'fl': fl = name('fl', v); fi = None
    elif k in ('fi', 'fe'): fi = name('fl', v)
    elif k == 'fn': fn = name('fn', v); fi = None
    elif k == 'cfn': cfn = name('fn', v)
    elif k in ('cfi', 'cfl'): name('fl', v)
    elif k == 'calls': pending = True
def owner(f, n):
    f = f or ''
    if re.search(r'/crates/(server|core)/src/', f) and '/rustc/' not in f: return 'proxy'
    m = re.search(r'index\.crates\.io-[0-9a-f]+/([^/]+?)-\d[^/]*/', f)
    c = m.group(1) if m else None
    if c in ('hyper', 'httparse', 'hyper-util', 'want', 'http-body', 'http-body-util'): return 'hyper'
    if c in ('tokio', 'mio'): return 'tokio'
    if 'mimalloc' in f or c in ('libmimalloc-sys', 'mimalloc', 'quick_cache', 'ahash', 'hashbrown', 'parking_lot', 'sha2', 'base64', 'cookie'):
        return None
    if c is None or c in ('http', 'bytes', 'smallvec', 'futures-util', 'futures-core', 'pin-project-lite', 'atomic-waker', 'itoa', 'httpdate'):
        # std/libc/http/bytes code: whose function is it in?
        nn = (n or '').lstrip('<')
        if nn.startswith('sb_cookie_proxy::') or nn.startswith('sbp_core::'): return 'proxy'
        if re.match(r'(hyper|httparse|want)::', nn): return 'hyper'
        if re.match(r'(tokio|mio)::', nn): return 'tokio'
        return None  # a leaf: counted for its caller
    return 'other:' + c
# leaf costs: self cost of functions with no owner, passed up to callers by call-site owner
leaf_self = collections.Counter()
own = collections.Counter(); byfn = collections.Counter()
for (f, n), v in selfc.items():
    o = owner(f, n)
    if o: own[o] += v; byfn[(o, n)] += v
    else: leaf_self[n] += v
# leaf code's self cost goes to its callers, in proportion to the calls'
# inclusive cost; a leaf called by a leaf passes it on (a few rounds)
callers = collections.defaultdict(collections.Counter)
for (f, n, b), v in calls.items():
    o = owner(f, n)
    callers[b][(o, n) if o else ('leaf', n)] += v
pending_cost = dict(leaf_self)
unassigned = 0
for _ in range(8):
    nxt = collections.Counter()
    for b, v in pending_cost.items():
        cs = {k: w for k, w in callers[b].items() if k != ('leaf', b)}
        tot = sum(cs.values())
        if not tot: unassigned += v; continue
        for k, w in cs.items():
            if k[0] == 'leaf': nxt[k[1]] += v * w / tot
            else: own[k[0]] += v * w / tot; byfn[k] += v * w / tot
    pending_cost = nxt
unassigned += sum(pending_cost.values())
own['not attributed'] += unassigned
T = sum(selfc.values())
for k, v in own.most_common(): print('%8.0f  %s' % (v / req, k))
print('%8.0f  total' % (T / req))

if len(sys.argv) > 3:
    for (o, n), v in byfn.most_common():
        if o == sys.argv[3] and v / req >= float(sys.argv[4] if len(sys.argv) > 4 else 50): print('%8.0f  %s' % (v / req, (n or '?')[:160]))
