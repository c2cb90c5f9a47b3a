#!/usr/bin/env python3
"""Loopback partner for Benchmarks/fleet.sh and deploy/compose/fleet.yaml (Python 3 standard library only).

    partner.py --port P [--host 127.0.0.1] [--delay-ms 2]

Counts every request per path and per wall-clock second. /cached answers with `Cache-Control: max-age=60`;
/down answers 503 at once; any other path 200 after --delay-ms. GET /stats (not counted) answers
{"counts": {path: n}, "seconds": {path: {second: n}}} and closes the connection; GET /reset (not counted)
clears the counts.
"""
import argparse
import asyncio
import json
import time


class Partner:
    def __init__(self, delay_s):
        self.delay_s = delay_s
        self.counts = {}
        self.seconds = {}

    def count(self, path):
        self.counts[path] = self.counts.get(path, 0) + 1
        per = self.seconds.setdefault(path, {})
        second = int(time.time())
        per[second] = per.get(second, 0) + 1

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
                    body = json.dumps({"counts": self.counts, "seconds": self.seconds}).encode()
                    self.answer(writer, 200, body, close=True)
                    await writer.drain()
                    return
                if path == "/reset":
                    self.counts, self.seconds = {}, {}
                    self.answer(writer, 200, b"{}", close=True)
                    await writer.drain()
                    return
                self.count(path)
                if path == "/down":
                    self.answer(writer, 503, b'{"error":"down"}')
                else:
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    extra = "Cache-Control: max-age=60\r\n" if path == "/cached" else ""
                    self.answer(writer, 200, b'{"ok":true}', extra=extra)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def answer(writer, status, body, close=False, extra=""):
        reason = {200: "OK", 503: "Service Unavailable"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode() + body)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay-ms", type=float, default=2)
    args = parser.parse_args()
    partner = Partner(args.delay_ms / 1000)
    server = await asyncio.start_server(partner.serve, args.host, args.port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
