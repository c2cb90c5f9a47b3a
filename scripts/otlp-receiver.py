#!/usr/bin/env python3
"""A small OTLP/HTTP trace receiver for fanout's tests (and a quick look at what fanout exports).

Listens on 127.0.0.1 (port 0: the kernel's choice, printed on stdout once listening), accepts
POST /v1/traces with Content-Type application/x-protobuf, decodes each body as an
ExportTraceServiceRequest with the opentelemetry-proto package, and appends one JSON object per span to
the file given as the first argument:

  {"service": "...", "scope": "...", "trace_id": "<32 hex>", "span_id": "<16 hex>",
   "parent_span_id": "<16 hex or empty>", "trace_state": "...", "name": "...", "kind": 2,
   "start": ns, "end": ns, "status": 0|1|2, "attributes": {"key": "value as text"}, "content_type": "..."}

Answers 200 with an empty ExportTraceServiceResponse; a body that does not decode is answered 400.
Usage: otlp-receiver.py SPANS.jsonl [PORT]
"""
import http.server
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUTPUT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0


def value_of(any_value):
    """An attribute's value as text: booleans as true/false, numbers in decimal."""
    kind = any_value.WhichOneof("value")
    value = getattr(any_value, kind) if kind else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception:
            self.answer(400, b"")
            return
        lines = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(json.dumps({
                        "service": resource.get("service.name"),
                        "scope": scope_spans.scope.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "trace_state": span.trace_state,
                        "name": span.name,
                        "kind": span.kind,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano,
                        "status": span.status.code,
                        "attributes": {kv.key: value_of(kv.value) for kv in span.attributes},
                        "content_type": self.headers.get("Content-Type"),
                        "path": self.path,
                    }))
        with open(OUTPUT, "a") as out:
            out.write("".join(line + "\n" for line in lines))
        self.answer(200, ExportTraceServiceResponse().SerializeToString())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
