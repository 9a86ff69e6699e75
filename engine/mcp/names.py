"""Tool names and the selectors that choose them.

Agents, events, approval rules and screens name an MCP tool "server.tool"
("git.status"); models are offered it as "server__tool", because the APIs allow
only [a-zA-Z0-9_-]{1,64} in a tool's name. A built-in tool keeps its own name
("read_file") everywhere.

An agent's `tools` are selectors: an exact name ("read_file", "docs.search")
or a glob ("git.*", "*"), matched the same way against built-in and MCP tools.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re

WIRE_LENGTH = 64
_WIRE_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
GLOB_CHARS = frozenset("*?[")


def full_name(server: str, tool: str) -> str:
    """The name agents and events use: "git.status"."""
    return f"{server}.{tool}"


def wire_name(server: str, tool: str) -> str:
    """The name a model is offered: "git__status", made safe for every API (other
    characters become "_"; a long one is cut and ends in a short hash of the whole)."""
    name = _WIRE_UNSAFE.sub("_", f"{server}__{tool}")
    if len(name) > WIRE_LENGTH:
        digest = hashlib.sha256(f"{server}.{tool}".encode()).hexdigest()[:8]
        name = f"{name[:WIRE_LENGTH - 9]}_{digest}"
    return name


def is_glob(selector: str) -> bool:
    return any(char in GLOB_CHARS for char in selector)


def server_of(selector: str) -> str | None:
    """The server a selector names ("git" in "git.*" and "git.status"); None when it names
    none ("read_file", "*")."""
    server, dot, _ = selector.partition(".")
    return server if dot and not is_glob(server) else None


def selects(selector: str, name: str) -> bool:
    """Whether `selector` chooses the tool called `name` (exactly, or as a glob)."""
    return fnmatch.fnmatchcase(name, selector) if is_glob(selector) else selector == name
