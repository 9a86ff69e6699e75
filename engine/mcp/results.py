"""What an MCP tool gave back, as the text an agent reads.

Text content is joined; every other kind of content (an image, audio, a
resource) is described in one line. The text is untrusted: it is made
well-formed, has secrets redacted, and is cut at `MAX_RESULT` characters with a
note saying so, before it reaches an event or a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engine.redaction import redact
from engine.trust import well_formed

MAX_RESULT = 32 * 1024
"""Characters of a tool's result an agent gets; the rest is cut, and the result says so."""


def content_text(content: Iterable[Any], structured: Any = None) -> str:
    """The blocks of a `CallToolResult.content` as text: text joined, the rest described
    (the structured content, as JSON, when there are no blocks at all)."""
    parts: list[str] = []
    for block in content:
        kind = getattr(block, "type", "?")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", "") or "") * 3 // 4
            parts.append(f"[{kind} content, {block.mime_type}, about {size} bytes, not shown]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(f"[resource {resource.uri}]\n{text}" if text is not None
                         else f"[resource {resource.uri}, {resource.mime_type or 'binary'}, not shown]")
        elif kind == "resource_link":
            parts.append(f"[link to resource {block.uri}{f' ({block.name})' if block.name else ''}]")
        else:
            parts.append(f"[{kind} content, not shown]")
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts)


def cleaned(text: str, secrets: Iterable[str] = (), limit: int = MAX_RESULT) -> str:
    """Untrusted text from a server made fit for an event and a model: well-formed,
    redacted, and cut at `limit` characters with a note to the model."""
    text = redact(well_formed(text), secrets)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: the result was {len(text):,} characters; only the first {limit:,} are shown]"
