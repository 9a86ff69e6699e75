"""How the simulated provider uses tools: look around, read the likeliest file, use
one of its other tools, answer.

Offered `list_files`, a simulated agent lists the project's root first; offered
`read_file`, it then reads the file a person would open first (a README, then
other Markdown, then source). Offered `run_python` (or `run_shell`), it runs one
plausible check in the sandbox once. Offered other tools (an MCP server's), it uses one
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
    return _look_around(request) or _run_code(request) or _use_another(request)


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
    others = [tool for tool in request.tools if tool.name not in LOOKING and tool.name not in CODE]
    if not others or any(use.name not in LOOKING and use.name not in CODE for m in request.messages for use in m.tool_uses):
        return None
    digest = hashlib.sha256(f"{request.call_key}|{request.agent}".encode()).digest()
    tool = others[digest[0] % len(others)]
    ctx = simjson.Context(
        rng=random.Random(digest), agent=request.agent, role=request.role, task=request.task, team=request.team,
        phrases=simtext.merged_phrases(request.task, "") or ["the task"],
    )
    payload = simjson.generate(tool.input_schema, ctx)
    return f"I'll use {tool.name} for this.", _use(request, tool.name, payload if isinstance(payload, dict) else {})


CODE = ("run_python", "run_shell")
"""The built-in tools that run code: a simulated agent runs one check with them."""
PYTHON_CHECKS = (
    (
        "Let me check what the scratch copy of the project holds before answering.",
        "# What the project holds, by kind of file.\n"
        "import collections, os\n\n"
        "kinds = collections.Counter()\n"
        "for folder, _, files in os.walk('.'):\n"
        "    for name in files:\n"
        "        kinds[os.path.splitext(name)[1] or '(none)'] += 1\n"
        "for kind, count in kinds.most_common(8):\n"
        "    print(f'{kind:>8}  {count}')\n"
        "print('files:', sum(kinds.values()))\n",
    ),
    (
        "I'll run a quick calculation to be sure of the numbers.",
        "# A quick estimate: effort per item, with a margin.\n"
        "estimates = [3, 5, 8, 13, 5]\n"
        "total = sum(estimates)\n"
        "print('items:', len(estimates))\n"
        "print('total:', total, 'mean:', round(total / len(estimates), 2))\n"
        "print('with a 20% margin:', round(total * 1.2, 1))\n",
    ),
    (
        "I'll write my notes down in the scratch folder, so they can be looked at later.",
        "# Notes for the team, kept in the scratch folder.\n"
        "notes = {phrases}\n"
        "with open('notes.txt', 'w', encoding='utf-8') as file:\n"
        "    file.write('\\n'.join(f'- {note}' for note in notes) + '\\n')\n"
        "print(f'wrote {len(notes)} notes to notes.txt')\n",
    ),
)
SHELL_CHECK = "ls -la | head -n 20 && python3 --version"


def _run_code(request: ProviderRequest) -> tuple[str, ToolUse] | None:
    """One check run in the sandbox per conversation, when the agent may run code."""
    offered = {tool.name for tool in request.tools}
    if not offered & set(CODE) or any(use.name in CODE for m in request.messages for use in m.tool_uses):
        return None
    if "run_python" not in offered:
        return "I'll look at the project from a shell first.", _use(request, "run_shell", {"command": SHELL_CHECK})
    digest = hashlib.sha256(f"{request.call_key}|{request.agent}|code".encode()).digest()
    lead, code = PYTHON_CHECKS[digest[0] % len(PYTHON_CHECKS)]
    phrases = (simtext.merged_phrases(request.task, "") or ["the task"])[:5]
    if "{phrases}" in code:  # the task's own words, as a Python literal: data, never code
        code = code.replace("{phrases}", repr(phrases))
    return lead, _use(request, "run_python", {"code": code})


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
