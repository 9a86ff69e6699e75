"""Sessions as OpenTelemetry traces, following the GenAI semantic conventions.

- `spans`: what a span is here (plain data) and its ids, made from the session's id so
  a session sent live and sent again later is the same trace;
- `mapping`: the events of a session folded into spans, pure (no I/O, no clock);
- `target`: where traces go and whether they carry content, from options and the
  `OTEL_*` environment, without importing OpenTelemetry;
- `otlp`: the official SDK and OTLP/HTTP exporter, imported only when traces are sent
  (`pip install huddle[otel]`).
"""
