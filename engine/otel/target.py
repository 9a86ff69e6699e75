"""Where a session's trace goes, and whether it carries content: from the options a person
gave and the standard `OTEL_*` environment. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.redaction import redact

TRACES_PATH = "/v1/traces"
CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI instrumentations' opt-in for content: "true" (or "span_only", "span_and_event")."""
CONTENT_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})
TIMEOUT_S = 3.0
"""Seconds a batch of spans may take, its retries included, unless the environment says
(`TIMEOUT_VARIABLES`): a receiver that is down delays a session's end, and quitting, by
this much at most. (The exporter's own default, 10 s, spends 7 s retrying a receiver that
refuses every connection.)"""
TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")


@dataclass(frozen=True)
class TraceTarget:
    """An OTLP/HTTP receiver to send a session's trace to."""

    url: str
    """The full address spans are posted to (ending in /v1/traces, unless the person gave another)."""
    content: bool = False
    """True when prompts, replies, tool input and output and decisions' reasons go along
    (redacted of secrets); False: names, models, tokens, times and outcomes only."""
    timeout: float = TIMEOUT_S
    """Seconds a batch may take to be sent, its retries included."""

    @property
    def shown(self) -> str:
        """The address as a line may show it: any password in it hidden."""
        return redact(self.url)


def _address(text: str, where: str) -> str:
    """`text` stripped, if it is an http or https address; else ValueError, in one line naming `where`."""
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{where}: {redact(text)!r} is not an http:// or https:// address "
            "(an OTLP/HTTP receiver, such as http://localhost:4318)"
        )
    return text


def traces_url(endpoint: str, where: str = "--otlp") -> str:
    """The address spans are posted to, from an endpoint given as a base (`http://host:4318`,
    as OTEL_EXPORTER_OTLP_ENDPOINT is) or whole (ending in /v1/traces); ValueError, in one
    line naming `where`, for anything but an http or https address."""
    text = _address(endpoint, where)
    if urlsplit(text).path.rstrip("/").endswith(TRACES_PATH):
        return text
    return text.rstrip("/") + TRACES_PATH


def content_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment opts in to content (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)."""
    return environ.get(CONTENT_VARIABLE, "").strip().lower() in CONTENT_ON


def export_timeout(environ: Mapping[str, str]) -> float:
    """Seconds a batch may take: the first of `TIMEOUT_VARIABLES` the environment sets (in
    seconds, as OpenTelemetry's Python exporter reads them), else `TIMEOUT_S`, which is
    also what a value that is not a positive number of seconds gives."""
    for name in TIMEOUT_VARIABLES:
        if text := environ.get(name, "").strip():
            try:
                seconds = float(text)
            except ValueError:
                return TIMEOUT_S
            return seconds if 0 < seconds < math.inf else TIMEOUT_S
    return TIMEOUT_S


def trace_target(
    endpoint: str | None, content: bool, environ: Mapping[str, str], *, where: str = "--otlp",
) -> TraceTarget | None:
    """Where to send traces: `endpoint` (`--otlp`) if given, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    (whole) or OTEL_EXPORTER_OTLP_ENDPOINT (a base), else nowhere (None; also when
    OTEL_SDK_DISABLED is true and no endpoint was given). Content goes along with `content`
    (`--otlp-content`) or when the environment opts in. `where`: the option `endpoint`
    came from, as a mistake in it names it."""
    if endpoint is not None:
        url = traces_url(endpoint, where)
    elif environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    elif environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        # used as it is, as the SDK does
        url = _address(environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        url = traces_url(environ["OTEL_EXPORTER_OTLP_ENDPOINT"], "OTEL_EXPORTER_OTLP_ENDPOINT")
    else:
        return None
    return TraceTarget(url, content or content_wanted(environ), export_timeout(environ))


NEEDS_SDK = "huddle: sending traces needs OpenTelemetry: pip install 'huddle[otel]'"
"""What a trace that cannot be sent without the optional SDK says."""
