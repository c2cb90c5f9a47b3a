#!/usr/bin/env python3
"""Closed-loop HTTP/1.1 driver for Benchmarks/hedging.sh (Python 3 standard library only).

    driver.py --port P --route PATH --upstream-port U --upstream-path PATH --label TEXT [--conns 16] [--seconds 8]

Opens --conns keep-alive connections to 127.0.0.1:P and sends GET PATH on each, the next request as soon as
the previous answer is complete, for --seconds. Every answer's latency is recorded (no sampling, no
coordinated-omission correction: wrk 4 adds synthetic samples after a slow answer, which moved its p90 on
/slow from 8 ms to 410 ms). Reads the upstream's GET /stats before and after and prints one Markdown row:
label, requests/s, p50, p90, p99, max, non-2xx answers, and upstream requests to --upstream-path per client
request (in parentheses: upstream requests minus client requests).
"""
import argparse
import asyncio
import json
import time
import urllib.request


def upstream_count(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:
        return json.load(answer).get(path, 0)


async def client(port, request, stop, latencies, statuses):
    reader = writer = None
    try:
        while time.monotonic() < stop:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            await reader.readexactly(int(fields["content-length"]))
            latencies.append(time.monotonic() - started)
            statuses.append(int(head[0].split(" ", 2)[1]))
            if fields.get("connection", "").lower() == "close":  # keepalive_requests reached
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--route", required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--upstream-path", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()

    before = upstream_count(args.upstream_port, args.upstream_path)
    request = f"GET {args.route} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    latencies, statuses = [], []
    started = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(*(client(args.port, request, started + args.seconds, latencies, statuses)
                         for _ in range(args.conns))),
        timeout=args.seconds + 10)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)  # attempts still in flight (a hedge, a retry) reach the upstream before the count
    partner = upstream_count(args.upstream_port, args.upstream_path) - before

    latencies.sort()
    n = len(latencies)
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"
    non2xx = sum(1 for status in statuses if not 200 <= status < 300)
    print(f"| {args.label} | {n / elapsed:,.0f} | {ms(percentile(latencies, 50))} | {ms(percentile(latencies, 90))} | "
          f"{ms(percentile(latencies, 99))} | {ms(latencies[-1])} | {non2xx:,} of {n:,} | {partner / n:.3f} ({partner - n:+,}) |")


if __name__ == "__main__":
    asyncio.run(main())
