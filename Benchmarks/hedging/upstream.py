#!/usr/bin/env python3
"""Loopback upstream with a deterministic tail for Benchmarks/hedging.sh (Python 3 standard library only).

    upstream.py --port P [--fast-ms 5] [--slow-ms 500]

Each path keeps its own request counter N (1, 2, 3, ...), so the tail is the same in every run:

    /slow     every 20th request (N % 20 == 0) answers after --slow-ms, the others after --fast-ms
    /flaky    every 10th request answers 503 at once, the others 200 after --fast-ms
    /down     always 503 at once
    any other 200 after --fast-ms

Every answer is a small JSON body with Content-Length, keep-alive. GET /stats (not counted) answers the
counts per path as JSON and closes the connection. Only 127.0.0.1 is bound.
"""
import argparse
import asyncio
import json

SLOW_EVERY = 20
FLAKY_EVERY = 10


class Upstream:
    def __init__(self, fast_s, slow_s):
        self.fast_s = fast_s
        self.slow_s = slow_s
        self.counts = {}

    def plan(self, path):
        """Counts the request; returns (delay in seconds, status)."""
        n = self.counts.get(path, 0) + 1
        self.counts[path] = n
        if path == "/slow":
            return (self.slow_s if n % SLOW_EVERY == 0 else self.fast_s), 200
        if path == "/flaky":
            return (0, 503) if n % FLAKY_EVERY == 0 else (self.fast_s, 200)
        if path == "/down":
            return 0, 503
        return self.fast_s, 200

    async def serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                path = target.split("?", 1)[0]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if path == "/stats":
                    await self.answer(writer, 200, json.dumps(self.counts).encode(), close=True)
                    return
                delay, status = self.plan(path)
                if delay:
                    await asyncio.sleep(delay)
                await self.answer(writer, status, b'{"path":"%s","status":%d}' % (path.encode(), status))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, IndexError, ValueError):
            pass  # the caller closed (a cancelled hedge) or sent something this stub does not parse
        finally:
            writer.close()

    @staticmethod
    async def answer(writer, status, body, close=False):
        reason = b"OK" if status == 200 else b"Service Unavailable"
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                     % (status, reason, len(body), b"Connection: close\r\n" if close else b"") + body)
        await writer.drain()


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fast-ms", type=float, default=5)
    parser.add_argument("--slow-ms", type=float, default=500)
    args = parser.parse_args()
    upstream = Upstream(args.fast_ms / 1000, args.slow_ms / 1000)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", args.port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
