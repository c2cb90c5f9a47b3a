#!/usr/bin/env python3
"""Load, sampling and report for Benchmarks/soak.sh (Python 3 standard library only).

    driver.py --fanout-pid PID --upstream-pid PID --port P --upstream-port U --seconds S [--rate R]
              [--conns C] [--warmup S] [--settle S] [--interval S] [--giant-bytes N] [--out FILE]
              [--samples FILE] [--header FILE]

Load: C keep-alive connections (raw sockets, asyncio) send GET /soak/c/ID (composite route) and GET
/soak/p/ID (proxy route) alternately, ID = a global sequence number, paced to R requests per second overall
(request i is due at t0 + i/R; a connection whose answer is late sends its next request at once). Each
answer is read whole (Content-Length or chunked) and classified by status; a connection that closes or
resets before the end of an answer counts as a connection error of its own kind and is reopened. Every
outcome is kept by ID, so it can be matched with the fault the upstream injected for the same ID.

Sampling, every --interval seconds, of the fanout process: VmRSS, RssAnon, Threads, CPU time, open file
descriptors split by kind (its TCP sockets are matched by inode against /proc/net/tcp: client connections,
upstream connections by state, listeners), and `ss -Htan` counted by port: CLOSE_WAIT on fanout's side
(local port = fanout's, or peer port = the upstream's), on the upstream's side, on the client's side, and
TIME_WAIT towards the upstream.

After the load: answers still in flight are awaited (bounded), the client connections are closed, and after
--settle seconds the end sample is taken. Then the upstream is asked to close its idle keep-alive
connections, to see what fanout does with the pooled connections that lost their peer.

The report (Markdown) goes to stdout and --out; the exit status is 0 when every criterion passes.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- load

class Load:
    def __init__(self, args):
        self.args = args
        self.next_id = 0
        self.outcome = {}  # id -> outcome ("200", "502", "504", "200_giant", "truncated", ...)
        self.route = {}  # id -> "composite" | "proxy"
        self.done = []  # (time the request was due, latency s, outcome) per answer or error
        self.in_flight = 0
        self.connects = 0
        self.connect_failures = 0
        self.stop_at = None
        self.t0 = None

    async def run(self, seconds):
        loop = asyncio.get_running_loop()
        self.t0 = loop.time()
        self.stop_at = self.t0 + seconds
        await asyncio.gather(*(self.connection() for _ in range(self.args.conns)))

    async def open(self):
        while True:
            try:
                self.connects += 1
                return await asyncio.open_connection("127.0.0.1", self.args.port, limit=65536)
            except OSError:
                self.connect_failures += 1
                await asyncio.sleep(0.1)
                if asyncio.get_running_loop().time() >= self.stop_at:
                    return None

    async def connection(self):
        loop = asyncio.get_running_loop()
        conn = None
        while True:
            i = self.next_id
            due = self.t0 + i / self.args.rate
            if due >= self.stop_at:
                break
            self.next_id += 1
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if conn is None:
                conn = await self.open()
                if conn is None:
                    break  # fanout refused connections until the end: the ID stays unused
            route = "composite" if i % 2 == 0 else "proxy"
            self.route[i] = route
            path = f"/soak/{'c' if route == 'composite' else 'p'}/{i}"
            started = loop.time()
            self.in_flight += 1
            try:
                outcome, keep = await asyncio.wait_for(self.exchange(conn, path, route), self.args.client_timeout)
            except asyncio.TimeoutError:
                outcome, keep = "client_timeout", False
            finally:
                self.in_flight -= 1
            self.outcome[i] = outcome
            self.done.append((due, loop.time() - started, outcome))
            if not keep:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    async def exchange(self, conn, path, route):
        """One request and its whole answer: (outcome, keep the connection)."""
        reader, writer = conn
        head = None
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split(" ")[1]
            length, chunked, close = None, False, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    chunked = "chunked" in value
                elif name == "connection":
                    close = "close" in value
            body, size = b"", 0
            if chunked:
                while True:
                    n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if n == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass
                        break
                    while n > 0:
                        part = await reader.readexactly(min(n, 1 << 20))
                        if size < 4096:
                            body += part[:4096]
                        size += len(part)
                        n -= len(part)
                    await reader.readexactly(2)
            elif length is not None:
                left = length
                while left > 0:
                    part = await reader.readexactly(min(left, 1 << 20))
                    if size < 4096:
                        body += part[:4096]
                    size += len(part)
                    left -= len(part)
            else:
                return "no_framing", False
        except asyncio.IncompleteReadError:
            return ("truncated" if head is not None else "closed_before_head"), False
        except (ConnectionResetError, BrokenPipeError):
            return ("reset_mid_body" if head is not None else "reset_before_head"), False
        except (asyncio.LimitOverrunError, ValueError, IndexError):
            return "malformed", False
        if status == "200":
            if route == "composite" and body.startswith(b'{"answer":{"ok":true'):
                return "200", not close
            if route == "proxy" and body.startswith(b'{"ok":true'):
                return "200", not close
            if route == "proxy" and size == self.args.giant_bytes:
                return "200_giant", not close
            return "200_unexpected_body", not close
        return status, not close


# ---------------------------------------------------------------------------------------------- sampling

def tcp_table():
    """inode -> (local port, remote port, state) for every IPv4/IPv6 TCP socket."""
    table = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    table[p[9]] = (int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16),
                                   TCP_STATES.get(p[3], p[3]))
        except OSError:
            pass
    return table


def unix_inodes():
    try:
        with open("/proc/net/unix") as f:
            next(f)
            return {line.split()[6] for line in f if len(line.split()) > 6}
    except OSError:
        return set()


def fd_breakdown(pid, port, upstream_port):
    kinds = {}
    tcp = tcp_table()
    unix = unix_inodes()
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        total += 1
        if target.startswith("socket:["):
            entry = tcp.get(target[8:-1])
            if entry is None:
                # libcurl's multi handle keeps a socketpair per worker for curl_multi_wakeup
                kind = "unix socket" if target[8:-1] in unix else "socket (other)"
            else:
                local, remote, state = entry
                if state == "LISTEN":
                    kind = "listener"
                elif local == port:
                    kind = f"client {state}"
                elif remote == upstream_port:
                    kind = f"upstream {state}"
                else:
                    kind = f"tcp {state}"
        elif target.startswith("anon_inode:"):
            kind = target[len("anon_inode:"):].strip("[]")
        elif target.startswith("pipe:"):
            kind = "pipe"
        else:
            kind = "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return total, kinds


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu_ticks"] = int(fields[11]) + int(fields[12])
    return out


async def socket_states(port, upstream_port):
    proc = await asyncio.create_subprocess_exec("ss", "-Htan", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    c = {"cw_fanout": 0, "cw_upstream": 0, "cw_client": 0, "tw_upstream": 0, "tw_client": 0}
    for line in out.decode().splitlines():
        p = line.split()
        if len(p) < 5:
            continue
        state, local, peer = p[0], p[3].rsplit(":", 1)[1], p[4].rsplit(":", 1)[1]
        if not (local.isdigit() and peer.isdigit()):
            continue  # a listener (peer *)
        local, peer = int(local), int(peer)
        if state == "CLOSE-WAIT":
            if local == port or peer == upstream_port:
                c["cw_fanout"] += 1
            if local == upstream_port:
                c["cw_upstream"] += 1
            if peer == port:
                c["cw_client"] += 1
        elif state == "TIME-WAIT":
            if upstream_port in (local, peer):
                c["tw_upstream"] += 1
            if port in (local, peer):
                c["tw_client"] += 1
    return c


async def take_sample(args, t, phase):
    s = {"t": round(t, 1), "phase": phase}
    s.update(proc_status(args.fanout_pid))
    s["fds"], s["fd_kinds"] = fd_breakdown(args.fanout_pid, args.port, args.upstream_port)
    s.update(await socket_states(args.port, args.upstream_port))
    try:
        up = proc_status(args.upstream_pid)
        s["up_rss"] = up["VmRSS"]
        s["up_fds"] = len(os.listdir(f"/proc/{args.upstream_pid}/fd"))
    except OSError:
        s["up_rss"] = s["up_fds"] = None
    return s


def control(args, what):
    with urllib.request.urlopen(f"http://127.0.0.1:{args.upstream_port}/_ctl/{what}", timeout=10) as r:
        data = r.read()
    return data if what == "log" else json.loads(data)


# ---------------------------------------------------------------------------------------------- analysis

def slope_per_10min(points):
    """Least-squares slope of (seconds, value) points, in value per 10 minutes."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * 600


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def fmt_ms(x):
    return "–" if x is None else f"{x * 1000:.1f}"


EXPECTED = {  # (route, injected kind) -> client outcomes that fault explains
    ("composite", "ok"): {"200"},
    ("composite", "hang"): {"504"},
    ("composite", "drip"): {"504"},
    ("composite", "reset"): {"502"},
    ("composite", "giant"): {"502"},
    ("proxy", "ok"): {"200"},
    ("proxy", "hang"): {"504"},
    ("proxy", "drip"): {"truncated"},
    ("proxy", "reset"): {"truncated", "502"},
    ("proxy", "giant"): {"200_giant"},
}
SUCCESS = {"200", "200_giant"}
MIN_SLOPE_WINDOW = 300  # seconds of samples after the warm-up before the RSS slope is judged


def report(args, load, samples, end, probe, stats, upstream_log, load_seconds):
    out = []
    w = out.append
    requests = len(load.outcome)
    # ---- outcomes and their match with the injected faults, request by request
    injected = {}  # id -> kind
    seen_twice = []
    for line in upstream_log.decode().splitlines():
        seq, path, kind = line.split(" ")
        rid = int(path.rsplit("/", 1)[1])
        if rid in injected:
            seen_twice.append((rid, injected[rid], kind))
        injected[rid] = kind
    matrix = {}  # (route, kind) -> {outcome: n}
    mismatches = []
    for rid, outcome in load.outcome.items():
        route = load.route[rid]
        kind = injected.get(rid, "not_received")
        matrix.setdefault((route, kind), {})
        matrix[(route, kind)][outcome] = matrix[(route, kind)].get(outcome, 0) + 1
        if outcome not in EXPECTED.get((route, kind), set()):
            mismatches.append((rid, route, kind, outcome))
    # a connect that fanout refused is an error the upstream never saw
    errors = sum(1 for o in load.outcome.values() if o not in SUCCESS) + load.connect_failures
    faults = sum(v for k, v in stats["kinds"].items() if k != "ok")
    proxy_giants = stats["by_route"].get("proxy", {}).get("giant", 0)
    expected_errors = faults - proxy_giants
    up_requests = stats["requests"]
    injected_rate = faults / up_requests if up_requests else 0
    error_rate = errors / requests if requests else 0
    expected_rate = expected_errors / requests if requests else 0

    # ---- samples
    load_samples = [s for s in samples if s["phase"] == "load"]
    start = samples[0]
    warm = [s for s in load_samples if s["t"] >= args.warmup]
    rss_slope = slope_per_10min([(s["t"], s["VmRSS"] / 1024) for s in warm])
    anon_slope = slope_per_10min([(s["t"], s["RssAnon"] / 1024) for s in warm])
    fd_slope = slope_per_10min([(s["t"], s["fds"]) for s in warm])
    peak_fds = max(samples, key=lambda s: s["fds"])
    cw_max = max(s["cw_fanout"] for s in samples)
    cw_up_max = max(s["cw_upstream"] for s in samples)
    threads = sorted({s["Threads"] for s in samples})
    pooled = end["fd_kinds"].get("upstream ESTABLISHED", 0)
    end_fds_adjusted = end["fds"] - pooled
    cpu_s = (end["cpu_ticks"] - start["cpu_ticks"]) / TICK
    pool_bound = args.workers * max(16, -(-args.max_connections // args.workers))

    ok_latency = [lat for (_, lat, o) in load.done if o == "200"]
    w(f"- run: {load_seconds:.0f} s of load at a target of {args.rate:g} req/s over {args.conns} keep-alive "
      f"connections, then {args.settle:g} s to settle; warm-up {args.warmup:g} s; samples every {args.interval:g} s")
    w(f"- requests: {requests:,} ({requests / load_seconds:.1f} req/s achieved), half composite (`/soak/c/ID`, one "
      f"required call), half proxy (`/soak/p/ID`); {load.connects:,} client connections opened "
      f"({load.connect_failures} failed)")
    w(f"- fanout CPU: {cpu_s:.1f} s ({cpu_s / (end['t'] or 1) * 100:.1f} % of one core over the run), "
      f"{cpu_s / requests * 1e6 if requests else 0:.0f} µs per request")
    w(f"- successful answers: p50 {fmt_ms(pct(ok_latency, 0.5))} ms, p99 {fmt_ms(pct(ok_latency, 0.99))} ms, "
      f"max {fmt_ms(max(ok_latency) if ok_latency else None)} ms (upstream delay {args.delay_ms:g} ms)")
    w("")
    w("Injected by the upstream (its own counts) and what the client saw:")
    w("")
    w("| upstream kind | composite: injected | composite: client outcomes | proxy: injected | proxy: client outcomes |")
    w("| --- | ---: | --- | ---: | --- |")
    for kind in ("ok", "hang", "reset", "drip", "giant", "not_received"):
        cells = []
        for route in ("composite", "proxy"):
            n = stats["by_route"].get(route, {}).get(kind, 0) if kind != "not_received" else sum(
                matrix.get((route, kind), {}).values())
            got = matrix.get((route, kind), {})
            cells += [f"{n:,}", ", ".join(f"{o} × {c:,}" for o, c in sorted(got.items(), key=lambda x: -x[1])) or "–"]
        if kind == "not_received" and cells[0] == "0" and cells[2] == "0":
            continue
        w(f"| {kind} | " + " | ".join(cells) + " |")
    w("")
    w(f"- upstream requests {up_requests:,} for {requests:,} client requests"
      f"{'' if not seen_twice else f'; {len(seen_twice)} IDs reached the upstream twice (a libcurl retry)'}; "
      f"faults injected {faults:,} = **{injected_rate * 100:.2f} %** "
      f"(hang {stats['kinds']['hang']:,}, reset {stats['kinds']['reset']:,}, drip {stats['kinds']['drip']:,}, "
      f"giant {stats['kinds']['giant']:,})")
    w(f"- client errors (any status but 200, and connection errors) {errors:,} = **{error_rate * 100:.2f} %**; "
      f"expected {expected_errors:,} = {expected_rate * 100:.2f} % (every fault but the {proxy_giants} giant "
      f"answers on the proxy route, which streams them whole by design); difference {errors - expected_errors:+,} "
      f"({(error_rate - expected_rate) * 100:+.3f} points); against the injected rate "
      f"{(error_rate - injected_rate) * 100:+.2f} points")
    w(f"- request-by-request match (client outcome explained by the fault injected for the same ID): "
      f"{requests - len(mismatches):,} of {requests:,}; {len(mismatches)} unexplained"
      + (": " + "; ".join(f"ID {r} {rt} {k} → {o}" for r, rt, k, o in mismatches[:10]) if mismatches else ""))
    w("")
    w("Resources of the fanout process:")
    w("")
    w("| | start (idle) | after warm-up | peak | end (load stopped, settled) |")
    w("| --- | ---: | ---: | ---: | ---: |")
    first_warm = warm[0] if warm else start
    w(f"| RSS (VmRSS) | {start['VmRSS'] / 1024:.1f} MiB | {first_warm['VmRSS'] / 1024:.1f} MiB "
      f"(t={first_warm['t']:.0f} s) | {max(s['VmRSS'] for s in samples) / 1024:.1f} MiB (VmHWM {end['VmHWM'] / 1024:.1f}) "
      f"| {end['VmRSS'] / 1024:.1f} MiB |")
    w(f"| RssAnon | {start['RssAnon'] / 1024:.1f} MiB | {first_warm['RssAnon'] / 1024:.1f} MiB "
      f"| {max(s['RssAnon'] for s in samples) / 1024:.1f} MiB | {end['RssAnon'] / 1024:.1f} MiB |")
    w(f"| open fds | {start['fds']} | {first_warm['fds']} | {peak_fds['fds']} (t={peak_fds['t']:.0f} s) | {end['fds']} |")
    w(f"| threads | {start['Threads']} | {first_warm['Threads']} | {max(threads)} | {end['Threads']} |")
    w(f"| CLOSE_WAIT, fanout's side | {start['cw_fanout']} | {first_warm['cw_fanout']} | {cw_max} | {end['cw_fanout']} |")
    w(f"| CLOSE_WAIT, upstream's side | {start['cw_upstream']} | {first_warm['cw_upstream']} | {cw_up_max} | {end['cw_upstream']} |")
    w("")
    w(f"- RSS slope after warm-up (least squares over {len(warm)} samples, t ≥ {args.warmup:g} s): "
      f"**{rss_slope:+.2f} MiB per 10 min** (RssAnon {anon_slope:+.2f}); fd slope {fd_slope:+.1f} per 10 min"
      if rss_slope is not None else "- RSS slope: too few samples after warm-up")
    w(f"- fds at start: {fmt_kinds(start['fd_kinds'])}")
    w(f"- fds at end: {fmt_kinds(end['fd_kinds'])}; the {pooled} `upstream ESTABLISHED` are idle keep-alive "
      f"connections in libcurl's connection cache (at most {pool_bound}: CURLMOPT_MAXCONNECTS, "
      f"{pool_bound // args.workers} per worker), "
      f"so {end['fds']} − {pooled} = {end_fds_adjusted} against {start['fds']} at start")
    w(f"- after the upstream closed its {probe['closed']} idle keep-alive connections ({probe['wait']:g} s later): "
      f"fanout fds {probe['sample']['fds']}, CLOSE_WAIT on fanout's side {probe['sample']['cw_fanout']} "
      f"({fmt_kinds(probe['sample']['fd_kinds'])})"
      + (f"; after one more request per route: fds {probe['after_request']['fds']}, CLOSE_WAIT "
         f"{probe['after_request']['cw_fanout']}" if probe.get("after_request") else ""))
    w(f"- TIME_WAIT towards the upstream at end: {end['tw_upstream']:,} (connections closed after faults); "
      f"upstream process: RSS {end['up_rss'] / 1024 if end['up_rss'] else 0:.1f} MiB, {end['up_fds']} fds at end")
    w("")
    w("Per minute of load (requests by the minute they were due in):")
    w("")
    w("| minute | requests | errors | error % | ok p50 ms | ok p99 ms | RSS MiB | fds | CLOSE_WAIT | threads | fanout CPU % |")
    w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    minutes = int(-(-load_seconds // 60))
    p99s = []  # per minute that starts after the warm-up
    for m in range(minutes):
        lo, hi = load.t0 + m * 60, load.t0 + (m + 1) * 60
        rows = [d for d in load.done if lo <= d[0] < hi]
        errs = sum(1 for d in rows if d[2] not in SUCCESS)
        lat = [d[1] for d in rows if d[2] == "200"]
        if m * 60 >= args.warmup and lat:
            p99s.append(pct(lat, 0.99))
        ss = [s for s in load_samples if m * 60 < s["t"] <= (m + 1) * 60]
        last = ss[-1] if ss else end
        before = [s for s in samples if s["t"] <= m * 60][-1] if m else start
        cpu = (last["cpu_ticks"] - before["cpu_ticks"]) / TICK / max(1e-9, last["t"] - before["t"]) * 100
        w(f"| {m + 1} | {len(rows):,} | {errs:,} | {errs / len(rows) * 100 if rows else 0:.2f} | "
          f"{fmt_ms(pct(lat, 0.5))} | {fmt_ms(pct(lat, 0.99))} | {last['VmRSS'] / 1024:.1f} | {last['fds']} | "
          f"{max(s['cw_fanout'] for s in ss) if ss else 0} | {last['Threads']} | {cpu:.1f} |")
    w("")
    # ---- criteria
    tol = max(2, round(requests * 0.0005))
    window = (warm[-1]["t"] - warm[0]["t"]) if len(warm) >= 2 else 0
    slope_text = (f"RSS slope after warm-up {rss_slope if rss_slope is not None else float('nan'):+.2f} MiB / 10 min "
                  f"< 1 MiB / 10 min")
    checks = [
        (rss_slope is not None and rss_slope < 1.0, slope_text),
        (abs(end_fds_adjusted - start["fds"]) <= 2 and pooled <= pool_bound,
         f"fds at end {end['fds']} − {pooled} pooled upstream connections = {end_fds_adjusted}, within ±2 of "
         f"{start['fds']} at start (pool ≤ {pool_bound})"),
        (end["cw_fanout"] == 0, f"CLOSE_WAIT on fanout's side at end: {end['cw_fanout']} (max during the run {cw_max})"),
        (abs(errors - expected_errors) <= tol and len(mismatches) <= tol and not seen_twice,
         f"client errors {errors:,} vs {expected_errors:,} expected from the injected faults "
         f"(difference {errors - expected_errors:+}, unexplained outcomes {len(mismatches)}, tolerance {tol}: 0.05 % "
         f"of requests, for a normal answer that misses its 1 s limit on a loaded machine)"),
        (max(threads) == min(threads), f"threads constant: {', '.join(map(str, threads))}"),
    ]
    if window < MIN_SLOPE_WINDOW:
        # A few MiB of allocator noise over a minute extrapolates to tens of MiB per 10 minutes.
        checks.pop(0)
        w(f"- (not judged) {slope_text}: only {window:.0f} s of samples after the warm-up, the slope is judged "
          f"over at least {MIN_SLOPE_WINDOW} s")
    for ok, text in checks:
        w(f"- **{'PASS' if ok else 'FAIL'}** {text}")
    if len(p99s) >= 2:
        w(f"- (info) p99 of successful answers, first minute after warm-up {fmt_ms(p99s[0])} ms, last minute "
          f"{fmt_ms(p99s[-1])} ms, highest {fmt_ms(max(p99s))} ms")
    return "\n".join(out), all(ok for ok, _ in checks)


def fmt_kinds(kinds):
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda x: (-x[1], x[0])))


# ---------------------------------------------------------------------------------------------- main

async def main_async(args):
    loop = asyncio.get_running_loop()
    samples = []
    t_start = loop.time()
    samples.append(await take_sample(args, 0.0, "start"))
    log(f"start: RSS {samples[0]['VmRSS'] / 1024:.1f} MiB, {samples[0]['fds']} fds, {samples[0]['Threads']} threads")
    load = Load(args)
    load_task = asyncio.create_task(load.run(args.seconds))

    async def sampler():
        n = 1
        while True:
            target = t_start + n * args.interval
            await asyncio.sleep(max(0, target - loop.time()))
            if load_task.done():
                return
            s = await take_sample(args, loop.time() - t_start, "load")
            samples.append(s)
            n += 1
            if n % max(1, int(30 / args.interval)) == 1:
                errs = sum(1 for o in load.outcome.values() if o not in SUCCESS)
                log(f"t={s['t']:5.0f} s  requests {len(load.outcome):,}  errors {errs:,}  RSS {s['VmRSS'] / 1024:.1f} MiB  "
                    f"fds {s['fds']}  CLOSE_WAIT {s['cw_fanout']}  threads {s['Threads']}")

    sampling = asyncio.create_task(sampler())
    # The load ends when every connection has sent its last due request and read its answer (each bounded by
    # --client-timeout), so this wait is bounded too.
    await load_task
    load_seconds = args.seconds
    await sampling
    log(f"load stopped at t={loop.time() - t_start:.1f} s ({len(load.outcome):,} requests); settling {args.settle:g} s")
    await asyncio.sleep(args.settle)
    end = await take_sample(args, loop.time() - t_start, "end")
    samples.append(end)
    stats = await asyncio.to_thread(control, args, "stats")
    upstream_log = await asyncio.to_thread(control, args, "log")
    # What happens to pooled connections whose peer goes away while fanout is idle.
    closed = (await asyncio.to_thread(control, args, "close_idle"))["closed"]
    await asyncio.sleep(2)
    probe = {"closed": closed, "wait": 2, "sample": await take_sample(args, loop.time() - t_start, "probe")}
    # One request per route afterwards (IDs beyond the run's): does libcurl drop the dead pooled connections
    # when a new transfer looks into its cache?
    for n, route in enumerate(("c", "p")):
        rid = 1_000_000_000 + n
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        writer.write(f"GET /soak/{route}/{rid} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        try:
            await asyncio.wait_for(reader.read(), args.client_timeout)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()
    await asyncio.sleep(1)
    probe["after_request"] = await take_sample(args, loop.time() - t_start, "probe")
    return load, samples, end, probe, stats, upstream_log, load_seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fanout-pid", type=int, required=True)
    p.add_argument("--upstream-pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--interval", type=float, default=5)
    p.add_argument("--client-timeout", type=float, default=15)
    p.add_argument("--giant-bytes", type=int, default=4 << 20)
    p.add_argument("--delay-ms", type=float, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-connections", type=int, default=256)
    p.add_argument("--header", help="Markdown put before the report")
    p.add_argument("--out", help="also write the report here")
    p.add_argument("--samples", help="write every sample here as JSON lines")
    args = p.parse_args()
    if args.warmup is None:
        args.warmup = max(20.0, min(300.0, args.seconds / 3))
    load, samples, end, probe, stats, upstream_log, load_seconds = asyncio.run(main_async(args))
    text, ok = report(args, load, samples, end, probe, stats, upstream_log, load_seconds)
    header = open(args.header).read() if args.header else ""
    full = header + ("\n" if header else "") + text + "\n"
    print(full)
    if args.out:
        with open(args.out, "w") as f:
            f.write(full)
    if args.samples:
        with open(args.samples, "w") as f:
            for s in samples:
                f.write(json.dumps(s) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
