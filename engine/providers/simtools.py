"""How the simulated provider uses tools: look around, read the likeliest file, use
one of its other tools, answer.

Offered `list_files`, a simulated agent lists the project's root first; offered
`read_file`, it then reads the file a person would open first (a README, then
other Markdown, then source). Offered other tools (an MCP server's), it uses one
of them once, with an input made from the tool's schema. After that, or when told
to answer, it answers. Deterministic: the same conversation makes the same choices.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import PurePosixPath

from engine.providers import simjson, simtext
from engine.providers.base import EDITED_NOTE, Message, ProviderRequest, ToolUse

LOOKING = ("list_files", "read_file")
"""The built-in tools a simulated agent uses to look around before it answers."""
READ_FIRST = (".md", ".rst", ".txt", ".py", ".toml", ".json", ".yaml", ".yml", ".js", ".ts", ".go", ".rs")


def next_use(request: ProviderRequest) -> tuple[str, ToolUse] | None:
    """The lead-in text and tool use the agent makes next, or None when it should answer."""
    if request.tool_choice == "none" or not request.tools:
        return None
    return _look_around(request) or _use_another(request)


def _look_around(request: ProviderRequest) -> tuple[str, ToolUse] | None:
    """List the project, then read its likeliest file, when those tools are offered."""
    offered = {tool.name for tool in request.tools}
    results = [m for m in request.messages if m.tool_results]
    if not results and "list_files" in offered:
        return "Let me see what the project holds first.", _use(request, "list_files", {"path": "."})
    if "read_file" not in offered or any(_read(m) for m in request.messages):
        return None
    listing = results[-1].tool_results[0] if results else None
    path = _likeliest(listing.output.splitlines()) if listing and not listing.is_error else "README.md"
    if path is None:
        return None
    return f"I'll read `{path}` before answering.", _use(request, "read_file", {"path": path})


def _use_another(request: ProviderRequest) -> tuple[str, ToolUse] | None:
    """Any other tool (an MCP server's): one per conversation, picked by the call, with
    an input made from its schema, so an offline session shows tool approvals too."""
    others = [tool for tool in request.tools if tool.name not in LOOKING]
    if not others or any(use.name not in LOOKING for m in request.messages for use in m.tool_uses):
        return None
    digest = hashlib.sha256(f"{request.call_key}|{request.agent}".encode()).digest()
    tool = others[digest[0] % len(others)]
    ctx = simjson.Context(
        rng=random.Random(digest), agent=request.agent, role=request.role, task=request.task, team=request.team,
        phrases=simtext.merged_phrases(request.task, "") or ["the task"],
    )
    payload = simjson.generate(tool.input_schema, ctx)
    return f"I'll use {tool.name} for this.", _use(request, tool.name, payload if isinstance(payload, dict) else {})


def read_note(messages: tuple[Message, ...]) -> str:
    """A line saying which file the agent read, to open its answer; "" when it read none."""
    for message in messages:
        for use in message.tool_uses:
            if use.name == "read_file":
                outcome = next((r for m in messages for r in m.tool_results if r.tool_use_id == use.id), None)
                if outcome is not None and not outcome.is_error:
                    path, output = use.input.get("path"), outcome.output
                    edited = EDITED_NOTE.match(output)
                    if edited:
                        path, output = json.loads(edited.group(1)).get("path"), output[edited.end():]
                    return f"_Read `{path}` ({len(output.splitlines())} lines) before answering._\n\n"
    return ""


def _read(message: Message) -> bool:
    return any(use.name == "read_file" for use in message.tool_uses)


def _likeliest(paths: list[str]) -> str | None:
    files = [p.strip() for p in paths if p.strip() and not p.startswith("(")]

    def rank(path: str) -> tuple[int, int, int, str]:
        pure = PurePosixPath(path)
        readme = 0 if pure.name.lower().startswith("readme") else 1
        suffix = READ_FIRST.index(pure.suffix) if pure.suffix in READ_FIRST else len(READ_FIRST)
        return (readme, len(pure.parts), suffix, path)

    return min(files, key=rank) if files else None


def _use(request: ProviderRequest, name: str, payload: dict[str, object]) -> ToolUse:
    digest = hashlib.sha256(f"{request.call_key}|{len(request.messages)}|{name}".encode()).hexdigest()[:20]
    return ToolUse(f"toolu_sim_{digest}", name, payload)
