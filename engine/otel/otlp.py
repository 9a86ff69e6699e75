"""Spans sent over OTLP/HTTP through the official OpenTelemetry SDK and exporter.

Imported only when traces are sent: it needs `pip install huddle[otel]`. Live
(`LiveTraces`: fed each event as the session goes, spans batched and sent from the SDK's
own thread, flushed at the end) and after the fact (`send_session`: a recorded session's
events, sent at once), the spans come from the same fold (`engine.otel.mapping`) with ids
of huddle's choosing (`engine.otel.spans`): one session, one trace, however often sent.

A receiver that is down, refuses or answers an error never stops a session: live, the
person is told once, in one line, and the spans it could not take are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from engine.events import EventBase
from engine.otel.mapping import TraceBuilder
from engine.otel.spans import SpanRecord, span_id, trace_id
from engine.otel.target import TraceTarget
from engine.redaction import redact

log = logging.getLogger(__name__)

BATCH = 512
"""Spans sent in one request after the fact (the batch processor's default size)."""
QUIET_S = 30.0
"""Live, after a batch failed: seconds its successors are dropped unsent, so a receiver
that is down costs the session's end one timeout, not one per batch."""
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
KINDS = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}


class TraceError(Exception):
    """Spans that could not be sent; the message is one line."""


def _huddle_version() -> str:
    try:
        return version("huddle")
    except PackageNotFoundError:
        return "unknown"


def resource() -> Resource:
    """Who sends: service "huddle", unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise."""
    own = Resource({"service.name": "huddle", "service.version": _huddle_version()})
    return own.merge(OTELResourceDetector().detect())


class _ChosenIds(IdGenerator):
    """Hands the SDK the ids huddle chose for the span it starts next."""

    def __init__(self) -> None:
        self.trace = 0
        self.span = 0

    def generate_trace_id(self) -> int:
        return self.trace

    def generate_span_id(self) -> int:
        return self.span


class SpanSender:
    """Turns span records into SDK spans, ended into `processor`, on a tracer of their own."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._ids = _ChosenIds()
        self._lock = threading.Lock()
        # shut down by its owner (`shutdown`), not again at exit
        self.provider = TracerProvider(resource=resource(), id_generator=self._ids, shutdown_on_exit=False)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("huddle", _huddle_version())

    def send(self, record: SpanRecord) -> None:
        trace = record.trace_id
        context = Context()
        if record.parent_id is not None:
            parent = SpanContext(trace, record.parent_id, is_remote=False, trace_flags=SAMPLED)
            context = set_span_in_context(NonRecordingSpan(parent), context)
        links = []
        if record.link is not None:
            other, key = record.link
            links.append(Link(SpanContext(trace_id(other), span_id(other, key), is_remote=False, trace_flags=SAMPLED)))
        with self._lock:  # the ids are handed over through `_ids`
            self._ids.trace, self._ids.span = trace, record.span_id
            span = self.tracer.start_span(
                record.name, context=context, kind=KINDS[record.kind], attributes=record.attributes, links=links,
                start_time=_ns(record.start), record_exception=False, set_status_on_exception=False,
            )
        for event in record.events:
            span.add_event(event.name, event.attributes, timestamp=_ns(event.ts))
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=_ns(record.end))

    def shutdown(self) -> None:
        self.provider.shutdown()


def _ns(ts: float) -> int:
    return int(round(ts * 1e9))


# -- why a batch failed ------------------------------------------------------------------


class _Remembering(requests.Session):
    """The exporter's HTTP session, keeping why its last request failed (the exporter
    itself only says that it did)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        try:
            response = super().request(*args, **kwargs)
        except Exception as error:
            self.reason = _reason(error)
            raise
        self.reason = f"HTTP {response.status_code} {response.reason}".strip() if response.status_code >= 300 else None
        return response


def _reason(error: BaseException) -> str:
    """A failed request, in a few words: "connection refused", "timed out", "unknown host"."""
    text = str(error)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if isinstance(error, requests.Timeout) or "timed out" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "resolution" in lowered:
        return "unknown host"
    if isinstance(error, requests.ConnectionError):
        return "could not connect"
    return " ".join(redact(text).split())[:200] or type(error).__name__


def _exporter(target: TraceTarget) -> tuple[OTLPSpanExporter, _Remembering]:
    session = _Remembering()
    return OTLPSpanExporter(endpoint=target.url, session=session, timeout=target.timeout), session


class _Watched(SpanExporter):
    """The OTLP exporter: its first failure is told (once), and batches that come within
    QUIET_S of a failure are dropped unsent."""

    def __init__(self, target: TraceTarget, tell: Callable[[str], None]) -> None:
        self.inner, self.why = _exporter(target)
        self.target = target
        self.tell = tell
        self.failure: str | None = None
        self._quiet_until = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._quiet_until:
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            return result
        self._quiet_until = time.monotonic() + QUIET_S
        if self.failure is None:
            self.failure = line = (
                f"huddle: the session's trace could not be sent to {self.target.shown} "
                f"({self.why.reason or 'no reason given'}); the session goes on without it"
            )
            self.tell(line)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


# -- live ----------------------------------------------------------------------------------


class LiveTraces:
    """A session's trace sent as it runs: `feed` each event (a bus listener), `close` at the end.

    `before`: the events of the record a resumed session carries on, folded but not sent
    again, so the resumed run's spans take their place in the same tree. `tell`: told the
    one line to show when the receiver cannot be reached (from the exporter's thread).
    """

    def __init__(
        self, target: TraceTarget, *, secrets: Iterable[str] = (), tell: Callable[[str], None] = log.warning,
        before: Iterable[EventBase] = (),
    ) -> None:
        self.builder = TraceBuilder(content=target.content, secrets=secrets)
        for event in before:
            self.builder.feed(event)
        self.exporter = _Watched(target, tell)
        self.sender = SpanSender(BatchSpanProcessor(self.exporter))
        self._broken = False

    def feed(self, event: EventBase) -> None:
        if self._broken:
            return
        try:
            for record in self.builder.feed(event):
                self.sender.send(record)
        except Exception:  # noqa: BLE001 - a bug here must not stop the session: its trace stops instead
            log.exception("the session's trace stopped at event %d (%s)", event.seq, event.kind)
            self._broken = True

    def close(self) -> None:
        """Send what is still open, wait for every span to be sent (or given up), and stop.
        Blocking: a loop runs it in a thread."""
        try:
            if not self._broken:
                for record in self.builder.close():
                    self.sender.send(record)
        finally:
            self.sender.shutdown()


# -- after the fact ----------------------------------------------------------------------------


class _Collect(SpanProcessor):
    """Keeps every span ended, for sending in batches of one's own."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def spans_of(events: Iterable[EventBase], *, content: bool = False, secrets: Iterable[str] = ()) -> list[ReadableSpan]:
    """A recorded session's spans as the SDK holds them (what `send_session` sends)."""
    builder = TraceBuilder(content=content, secrets=secrets)
    collect = _Collect()
    sender = SpanSender(collect)
    for event in events:
        for record in builder.feed(event):
            sender.send(record)
    for record in builder.close():
        sender.send(record)
    sender.shutdown()
    return collect.spans


def send_session(events: Iterable[EventBase], target: TraceTarget, *, secrets: Iterable[str] = ()) -> int:
    """Send a recorded session's trace to `target`; how many spans went. `TraceError`
    (one line) when the receiver did not take them all."""
    spans = spans_of(events, content=target.content, secrets=secrets)
    exporter, why = _exporter(target)
    try:
        for start in range(0, len(spans), BATCH):
            if exporter.export(spans[start : start + BATCH]) is not SpanExportResult.SUCCESS:
                sent = f"; {start} of {len(spans)} spans were sent" if start else ""
                raise TraceError(
                    f"huddle: the trace could not be sent to {target.shown} ({why.reason or 'no reason given'}){sent}"
                )
    finally:
        exporter.shutdown()
    return len(spans)
