#!/usr/bin/env python3
"""Fault-injecting loopback upstream for Benchmarks/soak.sh (Python 3 standard library only).

    upstream.py --port P [--giant-bytes N] [--drip-seconds S] [--delay-ms D] [--log FILE]

Every request to a path other than /_ctl/... takes the next slot of a fixed cycle of 100 kinds (a seeded
shuffle, so the same positions every run): 10 hang, 5 reset, 5 drip, 1 giant, 79 ok. Each route (first path
segment) walks the cycle with its own counter, so every 100 requests of a route carry exactly 21 faults in
that mix, whatever the order in which requests of different routes arrive. Counts are reported per kind
and per route.

    ok     after --delay-ms (5 ms), 200 with a small JSON body (Content-Length), keep-alive
    hang   reads the request and never answers; closes once the peer closes (the caller's timeout fires)
    reset  200 head with Content-Length 4096, 512 bytes of body, then an RST (SO_LINGER 0) mid-body
    drip   200 head with Content-Length 4096, then 16 bytes every 200 ms for --drip-seconds (2 s), then a
           FIN with the body incomplete: a deadline of 1 s passes while bytes still trickle in
    giant  200, chunked, --giant-bytes (4 MiB) in 64 KiB chunks, written with back-pressure; over a cap of
           1 MiB it is cut off by the caller, unbounded callers (a streaming proxy) receive it whole

Control paths (not counted, answered with Connection: close):
    GET /_ctl/stats       {"requests": N, "kinds": {...}, "by_route": {...}, "connections": {...}}
    GET /_ctl/close_idle  closes every keep-alive connection that waits for its next request
    GET /_ctl/log         one line per counted request: "<seq> <path> <kind>"

The route of a request is its first path segment: the soak config sends /soak/c/ID (composite) to /c/ID and
/soak/p/ID (proxy) to /p/ID. Only 127.0.0.1 is ever bound.
"""
import argparse
import asyncio
import json
import random
import signal
import socket
import struct
import sys

KINDS = ["hang"] * 10 + ["reset"] * 5 + ["drip"] * 5 + ["giant"] * 1
KINDS += ["ok"] * (100 - len(KINDS))
random.Random(20261121).shuffle(KINDS)  # fixed positions: the injected mix is exact per 100 requests

MAX_HEAD = 64 * 1024


class Upstream:
    def __init__(self, args):
        self.args = args
        self.seq = 0  # requests counted, all routes
        self.route_seq = {}  # route -> its position in the cycle
        self.kinds = {k: 0 for k in ("ok", "hang", "reset", "drip", "giant")}
        self.by_route = {}
        self.log = []  # (seq, path, kind)
        self.idle = set()  # writers waiting for their next request
        self.open_connections = 0
        self.accepted = 0
        self.peer_gone = {k: 0 for k in self.kinds}  # the caller closed while we were still answering
        self.giant_chunk = b"x" * 65536
        self.chunk_frame = b"%x\r\n" % len(self.giant_chunk) + self.giant_chunk + b"\r\n"

    def route_of(self, path):
        part = path.lstrip("/").split("/", 1)[0]
        return {"c": "composite", "p": "proxy"}.get(part, part or "/")

    async def serve(self, reader, writer):
        self.accepted += 1
        self.open_connections += 1
        sock = writer.get_extra_info("socket")
        try:
            while True:
                self.idle.add(writer)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                finally:
                    self.idle.discard(writer)
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    return
                path = parts[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip() or 0)
                if length:
                    await reader.readexactly(length)
                if path.startswith("/_ctl/"):
                    await self.control(path, writer)
                    return
                route = self.route_of(path)
                n = self.route_seq.get(route, 0)
                self.route_seq[route] = n + 1
                kind = KINDS[n % len(KINDS)]
                self.seq += 1
                self.kinds[kind] += 1
                self.by_route.setdefault(route, {k: 0 for k in self.kinds})[kind] += 1
                self.log.append((self.seq, path, kind))
                keep = await getattr(self, "answer_" + kind)(reader, writer, sock)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            self.idle.discard(writer)
            try:
                writer.close()
            except Exception:
                pass

    # Each answer returns whether the connection stays open for another request.

    async def answer_ok(self, reader, writer, sock):
        await asyncio.sleep(self.args.delay_ms / 1000)
        body = b'{"ok":true,"seq":%d,"pad":"%s"}' % (self.seq, b"a" * 64)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        return True

    async def answer_hang(self, reader, writer, sock):
        # Never answer; wait (bounded) for the caller to give up and close.
        try:
            await asyncio.wait_for(reader.read(), timeout=120)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        return False

    async def answer_reset(self, reader, writer, sock):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n" + b" " * 512)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the caller read the head and the first bytes: the RST is mid-body
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    async def answer_drip(self, reader, writer, sock):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
        steps = int(self.args.drip_seconds / 0.2)
        try:
            for _ in range(steps):
                writer.write(b" " * 16)
                await writer.drain()
                if reader.at_eof():
                    raise ConnectionResetError
                await asyncio.sleep(0.2)
        except ConnectionError:
            self.peer_gone["drip"] += 1
        return False  # FIN with the body incomplete

    async def answer_giant(self, reader, writer, sock):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        left = self.args.giant_bytes
        try:
            while left > 0:
                if left >= len(self.giant_chunk):
                    writer.write(self.chunk_frame)
                    left -= len(self.giant_chunk)
                else:
                    writer.write(b"%x\r\n" % left + self.giant_chunk[:left] + b"\r\n")
                    left = 0
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            self.peer_gone["giant"] += 1
            return False
        return True

    async def control(self, path, writer):
        if path == "/_ctl/stats":
            body = json.dumps({
                "requests": self.seq, "kinds": self.kinds, "by_route": self.by_route,
                "connections": {"accepted": self.accepted, "open": self.open_connections, "idle": len(self.idle)},
                "peer_gone": self.peer_gone,
            }).encode()
        elif path == "/_ctl/close_idle":
            idle = list(self.idle)
            for w in idle:
                w.close()
            body = json.dumps({"closed": len(idle)}).encode()
        elif path == "/_ctl/log":
            body = "".join(f"{s} {p} {k}\n" for s, p, k in self.log).encode()
        else:
            body = b'{"error":"unknown control path"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--giant-bytes", type=int, default=4 << 20)
    p.add_argument("--drip-seconds", type=float, default=2.0)
    p.add_argument("--delay-ms", type=float, default=5.0)
    args = p.parse_args()
    up = Upstream(args)
    server = await asyncio.start_server(up.serve, "127.0.0.1", args.port, backlog=1024, limit=MAX_HEAD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print(f"upstream listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
