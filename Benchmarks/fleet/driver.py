#!/usr/bin/env python3
"""Load for Benchmarks/fleet.sh: spreads requests over several fanout ports (Python 3 standard library only).

    driver.py --ports 18480,18481,... --path /quota --seconds 10 [--conns 16] [--rate 0] [--keys 0]

Each connection is a thread with one keep-alive connection to one of the ports (round robin over them), sending
GET PATH (with --keys K: PATH?k=N, N drawn from 0..K-1) in a closed loop (--rate 0) or paced to --rate requests per second in all. Prints one JSON line:
{"requests": n, "failed": n, "statuses": {...}, "p50_ms": x, "p99_ms": x}. A failed request is a non-2xx answer
or a connection error (the connection is then opened again).
"""
import argparse
import http.client
import json
import random
import threading
import time


def worker(port, path, keys, deadline, interval, results, lock):
    latencies, statuses, failed = [], {}, 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        if interval:
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        start = time.perf_counter()
        try:
            # One Host for the fleet, as behind a load balancer: it is part of the call cache's key.
            conn.request("GET", f"{path}?k={random.randrange(keys)}" if keys else path, headers={"Host": "fleet"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append((time.perf_counter() - start) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        if not 200 <= status < 300:
            failed += 1
    conn.close()
    with lock:
        results["latencies"].extend(latencies)
        results["failed"] += failed
        for status, n in statuses.items():
            results["statuses"][str(status)] = results["statuses"].get(str(status), 0) + n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--keys", type=int, default=0)
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    results = {"latencies": [], "failed": 0, "statuses": {}}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    interval = args.conns / args.rate if args.rate else 0
    threads = [
        threading.Thread(target=worker, args=(ports[i % len(ports)], args.path, args.keys, deadline, interval, results, lock))
        for i in range(args.conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(results["latencies"])

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 3) if latencies else None

    print(json.dumps({"requests": len(latencies), "failed": results["failed"], "statuses": results["statuses"],
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


if __name__ == "__main__":
    main()
