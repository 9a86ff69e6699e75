"""`huddle sessions export ID --format otlp`: a recorded session sent as an OpenTelemetry
trace to an OTLP/HTTP receiver, the same trace a live run with `--otlp` sends."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tui.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tui.safe import report, safe

if TYPE_CHECKING:
    from sessions.store import SessionStore


async def export_trace(args: argparse.Namespace, open_store: Callable[[argparse.Namespace], Awaitable[SessionStore]]) -> int:
    """Send the session `args.id` to `args.endpoint` (else OTEL_EXPORTER_OTLP_ENDPOINT); one
    line says how many spans went where, or why none did (exit status 1, or 2 for a
    command line that cannot run)."""
    from engine.otel.target import NEEDS_SDK, trace_target

    if args.output is not None:
        report("huddle: error: --format otlp sends the trace to a receiver; it writes no file (leave out -o)")
        return EXIT_USAGE
    try:
        target = trace_target(args.endpoint, args.otlp_content, os.environ, where="--endpoint")
    except ValueError as error:
        report(f"huddle: error: {error}")
        return EXIT_USAGE
    if target is None:
        report("huddle: error: --format otlp needs --endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT set)")
        return EXIT_USAGE
    try:
        from engine.otel.otlp import TraceError, send_session
    except ImportError:
        report(NEEDS_SDK)
        return EXIT_FAILED
    async with await open_store(args) as store:
        row = await store.get_session(args.id)
        events = [event async for event in store.iter_events(row.id)]
    try:
        count = await asyncio.to_thread(send_session, events, target)
    except TraceError as error:
        report(str(error))
        return EXIT_FAILED
    print(f"sent {count} spans of session {safe(row.id)} to {target.shown}")
    return EXIT_OK
