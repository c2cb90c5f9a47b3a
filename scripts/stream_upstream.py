#!/usr/bin/env python3
"""Loopback upstream for scripts/stream-memory.sh: large bodies without holding them.

GET /download?bytes=N  -> N bytes (Content-Length), written 1 MiB at a time
PUT|POST /upload       -> reads the body (Content-Length or chunked) and discards it; answers {"bytes": N}
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BLOCK = b"x" * (1 << 20)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        total = int(query.get("bytes", ["0"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        left = total
        while left > 0:
            n = min(left, len(BLOCK))
            self.wfile.write(BLOCK[:n])
            left -= n

    def read_body(self):
        count = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return count
                left = size
                while left > 0:
                    got = len(self.rfile.read(min(left, 1 << 20)))
                    if got == 0:
                        raise ConnectionError("body ended early")
                    left -= got
                count += size
                self.rfile.readline()
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            got = len(self.rfile.read(min(left, 1 << 20)))
            if got == 0:
                raise ConnectionError("body ended early")
            left -= got
            count += got
        return count

    def do_PUT(self):
        body = ('{"bytes": %d}' % self.read_body()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
