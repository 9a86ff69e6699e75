"""How a tool use that runs code (`run_python`, `run_shell`) reads to the person deciding
it: the code or the command itself, highlighted, and the sandbox it would run in with its
limits, on one line.

The approval dialog, the inbox's pane and the console prompt of headless runs all show it
from here. The code is untrusted text that came through the gate (`tui.safe`): it is
highlighted into `Content` (styles laid over the text, never markup read from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.events import SandboxShown, ToolAsked
from engine.sandbox.settings import LIMIT_NAMES
from tui.safe import clean

if TYPE_CHECKING:
    from textual.content import Content

CODE_INPUTS: dict[str, tuple[str, str, str]] = {
    "run_python": ("code", "python", "Code"),
    "run_shell": ("command", "bash", "Command"),
}
"""Each tool that runs code: the key of its input holding the code, its language, and
what the dialog calls it."""

UNCONFINED = "runs directly on this machine: nothing confines it"
"""What a tool use without a sandbox (backend "none") says, in red."""

UNITS: dict[str, str] = {"wall_s": "s", "cpu_s": "s CPU", "memory_mb": "MB", "output_kb": "KB output"}
"""What follows each limit's value; `processes` counts processes."""


@dataclass(frozen=True)
class CodeShown:
    """The code a tool use would run, as the dialog shows it."""

    label: str
    """"Code" or "Command"."""
    code: str
    language: str
    """"python" or "bash": how it is highlighted."""
    rest: dict[str, Any]
    """The rest of the input, if it holds more than the code (shown too: all of what is
    approved is seen)."""


def code_of(tool: ToolAsked | None, payload: Any) -> CodeShown | None:
    """The code in the input of a tool use of a code tool; None for any other tool, or an
    input that holds no code as text (it shows as JSON then)."""
    if tool is None or tool.name not in CODE_INPUTS:
        return None
    key, language, label = CODE_INPUTS[tool.name]
    if not isinstance(payload, dict) or not isinstance(payload.get(key), str):
        return None
    return CodeShown(label, clean(payload[key]), language, {k: v for k, v in payload.items() if k != key})


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def limit_text(name: str, value: float) -> str:
    """One limit as it reads on the sandbox line: "30 s", "512 MB", "64 processes"."""
    if name == "processes":
        return f"{_number(value)} {'process' if value == 1 else 'processes'}"
    if name in UNITS:
        return f"{_number(value)} {UNITS[name]}"
    return f"{clean(name)} {_number(value)}"


def sandbox_text(sandbox: SandboxShown) -> str:
    """The sandbox on one line: "bubblewrap · no network · 30 s · 512 MB · 64 processes ·
    64 KB output" (the CPU time too, "20 s CPU", when it is not the wall time's); for none,
    "none · runs directly on this machine: nothing confines it"."""
    backend = clean(sandbox.backend) or "none"
    if not sandbox.isolated:  # which limits hold then depends on the machine: none is promised
        return f"{backend} · {UNCONFINED}"
    limits = dict(sandbox.limits)
    if limits.get("cpu_s") == limits.get("wall_s"):  # said once: "30 s" bounds both
        limits.pop("cpu_s", None)
    names = [name for name in LIMIT_NAMES if name in limits] + sorted(set(limits) - set(LIMIT_NAMES))  # a newer engine's last
    return " · ".join([backend, "no network", *(limit_text(name, limits[name]) for name in names)])


def may_always_allow(tool: ToolAsked | None) -> bool:
    """Whether "always allow" is offered for a tool use: never for code that would run
    unconfined (each use is decided on its own)."""
    return tool is None or not tool.unconfined


def sandbox_content(sandbox: SandboxShown) -> Content:
    """The sandbox line: "Sandbox: " and the sandbox, all in red when nothing confines it."""
    from textual.content import Content  # here: a headless run's prompt loads no Textual

    if not sandbox.isolated:
        return Content.styled(f"Sandbox: {sandbox_text(sandbox)}", "bold $text-error")
    return Content.assemble(("Sandbox: ", "bold"), sandbox_text(sandbox))


def code_content(shown: CodeShown) -> Content:
    """The code, highlighted in its language: every line of it, as written."""
    from textual.highlight import highlight

    return highlight(shown.code, language=shown.language)


def input_content(tool: ToolAsked, payload: Any) -> Content:
    """A tool use's input as the person deciding reads it: the code under its label,
    highlighted, then the rest of the input; or, for a tool that runs no code, the input."""
    from textual.content import Content

    from tui.render import pretty

    code = code_of(tool, payload)
    if code is None:
        return Content.assemble(("Input:\n", "bold"), pretty(payload))
    rest = (("\n\nThe rest of the input:\n", "bold"), pretty(code.rest)) if code.rest else ()
    return Content.assemble((f"{code.label}:\n", "bold"), code_content(code), *rest)
