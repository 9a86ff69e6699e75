"""An OTLP/HTTP trace receiver on loopback, for tests: takes POST /v1/traces (protobuf),
decodes each request with the OpenTelemetry protocol's own classes and keeps its spans.

    with OtlpReceiver() as receiver:
        ... send to receiver.endpoint ...
        receiver.spans          # every span received, decoded
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

KINDS = {Span.SPAN_KIND_INTERNAL: "internal", Span.SPAN_KIND_CLIENT: "client", Span.SPAN_KIND_SERVER: "server"}


def value_of(value: AnyValue) -> Any:
    """An attribute's value as plain Python."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(value_of(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


@dataclass
class Received:
    """One span as the receiver decoded it."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]
    error: str | None
    """The status message of a span whose status is ERROR; None otherwise."""
    links: list[tuple[str, str]]
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


class OtlpReceiver:
    """A thread serving OTLP/HTTP traces on 127.0.0.1, on a port of its own; `status` is what it answers."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.spans: list[Received] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._take(self.path, body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The base address, as OTEL_EXPORTER_OTLP_ENDPOINT takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _take(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.paths.append(path)
            self.bodies.append(body)
            if self.status != 200:
                return
            for resource_spans in request.resource_spans:
                resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(Received(
                            span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                            KINDS.get(span.kind, str(span.kind)), span.start_time_unix_nano, span.end_time_unix_nano,
                            {kv.key: value_of(kv.value) for kv in span.attributes},
                            [(e.name, e.time_unix_nano, {kv.key: value_of(kv.value) for kv in e.attributes}) for e in span.events],
                            span.status.message if span.status.code == Status.STATUS_CODE_ERROR else None,
                            [(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                            resource, scope_spans.scope.name,
                        ))

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def dead_endpoint() -> str:
    """An address on loopback nothing listens on any more."""
    with OtlpReceiver() as receiver:
        return receiver.endpoint
