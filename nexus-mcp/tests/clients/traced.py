"""Drive nexus-mcp with the official MCP Python client, the host's trace
context in each call's `_meta`, and read back the spans it exports with a
receiver of this script's own: OTLP over HTTP, decoded with the
OpenTelemetry project's Python message definitions (opentelemetry-proto),
independently of the Rust side.

Usage: python traced.py SERVER_BINARY GATEWAY_URL SCENARIO URL [SERVER_ARG...]

SCENARIO:
  call  a GET of URL (answered), then a POST of it (refused read-only), each
        with `_meta.traceparent` naming the host's span

Prints one JSON object: each call's result, and every span received.
"""

import asyncio
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

HOST_TRACE = "5b8efff798038103d269b633813fc60c"
HOST_SPAN = "eee19b7ec3c1b174"
RECEIVED = []
KINDS = {v: k.removeprefix("SPAN_KIND_").lower() for k, v in Span.SpanKind.items()}


def value(any_value):
    """An attribute's value as JSON takes it."""
    which = any_value.WhichOneof("value")
    return getattr(any_value, which) if which else None


class Receiver(BaseHTTPRequestHandler):
    """POST /v1/traces: each span kept, its ids in hex."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
        if ok:
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: value(a.value) for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        RECEIVED.append({
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": KINDS.get(span.kind, "unspecified"),
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                            "status": span.status.code,
                            "service": service.get("service.name"),
                        })
        self.send_response(200 if ok else 415)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


async def call(server, gateway_url, url, server_args, endpoint):
    params = StdioServerParameters(
        command=server,
        args=server_args,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NEXUS_GATEWAY_URL": gateway_url,
            "NEXUS_WORKSPACE_ID": "ws-1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        },
    )
    meta = {"traceparent": f"00-{HOST_TRACE}-{HOST_SPAN}-01"}
    results = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for method in ["GET", "POST"]:
                arguments = {"provider": "github", "url": url, "method": method}
                result = await session.call_tool("authenticated_fetch", arguments, meta=meta)
                results.append({"is_error": result.is_error, "text": result.content[0].text})
    return results


def main():
    server, gateway_url, scenario, url, *server_args = sys.argv[1:]
    assert scenario == "call", scenario
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    results = asyncio.run(call(server, gateway_url, url, server_args, endpoint))
    # The server sends what it holds as it stops; wait (bounded) for the two
    # calls' server spans.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(s["name"] == "tools/call authenticated_fetch" for s in RECEIVED) >= 2:
            break
        time.sleep(0.02)
    receiver.shutdown()
    print(json.dumps({"host_trace": HOST_TRACE, "host_span": HOST_SPAN,
                      "results": results, "spans": RECEIVED}))


if __name__ == "__main__":
    main()
