"""Tools an agent may be given: looking at the files of the folder huddle runs in, and
running code in a sandbox (`CODE_TOOLS`, run by `engine.sandbox`).

Every use of a tool is an escalation point (trigger `tool_use`): the approval
policy decides whether a person sees the tool and its input first, and may
refuse it or edit the input. Tools are confined to one folder (the tool root),
never follow a path out of it, and refuse files that look like secrets, so an
approved call still cannot send a key to a model.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.handoffs import check_json_schema
from engine.providers.base import ToolSpec
from engine.redaction import redact
from engine.trust import well_formed

MAX_READ = 64 * 1024
"""Bytes of a file a read returns; the rest is cut, and the reply says so."""
MAX_LISTED = 200
SECRET_NAMES = (
    ".env", ".env.*", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.ppk", "*.kdbx",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", "_netrc", ".pgpass", ".npmrc", ".pypirc",
    ".git-credentials", ".htpasswd", ".dockercfg", "credentials*", "*secret*",
)
"""File names huddle never reads (matched without regard to case)."""
SECRET_DIRS = {".ssh", ".gnupg", ".aws", ".docker", ".kube", ".azure", ".config/gcloud"}
"""Folders whose files hold keys and tokens: nothing under them is read."""
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache"}


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the agent."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any], Path], str]

    def validate(self, payload: Any) -> dict[str, Any]:
        """The input, checked against the tool's schema; ValueError says what is wrong."""
        check_json_schema(self.input_schema, payload)
        return payload

    def execute(self, payload: dict[str, Any], root: Path, secrets: Iterable[str] = ()) -> str:
        """Run on a validated input; the output with secrets (and any piece of
        `secrets`, the keys huddle holds) redacted, or ToolError."""
        try:
            return well_formed(redact(self.run(payload, root.resolve()), secrets))
        except OSError as error:
            raise ToolError(f"{self.name} failed: {error.strerror or error}") from None

    @property
    def spec(self) -> ToolSpec:
        """The tool as offered to a model."""
        return ToolSpec(self.name, self.description, self.input_schema)


def _inside(root: Path, relative: str) -> Path:
    """`relative` resolved under `root` (itself resolved); ToolError if it leads anywhere else."""
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"{relative!r} is outside the folder huddle may read ({root})")
    return target


def looks_secret(path: Path, root: Path) -> bool:
    """A file named like a key or credentials, or inside a folder of them."""
    if any(fnmatch.fnmatch(path.name.lower(), pattern) for pattern in SECRET_NAMES):
        return True
    folders = "/" + "/".join(path.relative_to(root).parts[:-1]).lower() + "/"
    return any(f"/{folder}/" in folders for folder in SECRET_DIRS)


def _list_files(payload: dict[str, Any], root: Path) -> str:
    folder = _inside(root, payload.get("path", ".") or ".")
    if not folder.is_dir():
        raise ToolError(f"{payload.get('path')!r} is not a folder")
    lines: list[str] = []
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith("."))
        depth = Path(directory).relative_to(folder).parts
        if len(depth) >= 2:
            subdirs[:] = []
        for name in sorted(files):
            relative = Path(directory, name).relative_to(root)
            lines.append(str(relative))
            if len(lines) >= MAX_LISTED:
                return "\n".join(lines) + f"\n(first {MAX_LISTED} files only)"
    return "\n".join(lines) or "(no files)"


def _read_file(payload: dict[str, Any], root: Path) -> str:
    path = _inside(root, payload["path"])
    if looks_secret(path, root):
        raise ToolError(f"{payload['path']!r} looks like a secret (keys, credentials); huddle does not read it")
    if not path.is_file():
        raise ToolError(f"{payload['path']!r} is not a file")
    with path.open("rb") as file:
        data = file.read(MAX_READ + 1)
    if b"\x00" in data[:4096]:
        raise ToolError(f"{payload['path']!r} is a binary file")
    text = data[:MAX_READ].decode("utf-8", errors="replace")
    return text + (f"\n(cut at {MAX_READ // 1024} KB)" if len(data) > MAX_READ else "")


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "list_files",
            "List the files in a folder of the project (two levels deep), relative to the project's root.",
            {"type": "object", "properties": {"path": {"type": "string", "description": "a folder, relative to the root; '.' for the root"}},
             "required": ["path"], "additionalProperties": False},
            _list_files,
        ),
        Tool(
            "read_file",
            "Read a text file of the project (at most 64 KB), given its path relative to the project's root.",
            {"type": "object", "properties": {"path": {"type": "string", "description": "the file, relative to the root"}},
             "required": ["path"], "additionalProperties": False},
            _read_file,
        ),
    )
}


@dataclass(frozen=True)
class CodeTool:
    """A built-in tool that runs code in the session's sandbox (`engine.sandbox`): given to
    an agent only by its exact name (a glob such as "*" never chooses it)."""

    name: str
    description: str
    input_schema: dict[str, Any]


CODE_TOOLS: dict[str, CodeTool] = {
    tool.name: tool
    for tool in (
        CodeTool(
            "run_python",
            "Run a Python 3 program in a sandbox without network, in a scratch copy of the project "
            "(its working directory; what it writes stays there). Returns its exit status, what it "
            "printed, and the files it changed. Limited in time, memory and output.",
            {"type": "object", "properties": {"code": {"type": "string", "maxLength": 100_000,
                                                        "description": "the program, run as a script"}},
             "required": ["code"], "additionalProperties": False},
        ),
        CodeTool(
            "run_shell",
            "Run a shell command line (sh) in a sandbox without network, in a scratch copy of the project "
            "(its working directory; what it writes stays there). Returns its exit status, what it "
            "printed, and the files it changed. Limited in time, memory and output.",
            {"type": "object", "properties": {"command": {"type": "string", "maxLength": 10_000,
                                                           "description": "the command line"}},
             "required": ["command"], "additionalProperties": False},
        ),
    )
}
BUILT_IN = (*TOOLS, *CODE_TOOLS)
"""Every built-in tool's name."""


def run_tool(name: str, payload: dict[str, Any], root: Path) -> str:
    """Look up, validate and run a tool; its output, or ToolError with a message for the agent."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolError(f"there is no tool called {name!r}")
    try:
        tool.validate(payload)
    except ValueError as error:
        raise ToolError(f"bad input for {name}: {error}") from None
    return tool.execute(payload, root)
