"""The approval dialog for a tool use that runs code: the code (or the command) whole and
highlighted, the sandbox it would run in with its limits, and no "always allow" for code
that would run unconfined."""

from __future__ import annotations

import pytest
from textual.content import Content

from engine import patterns
from engine.events import Choice, SandboxShown, ToolAsked
from tests.helpers import pattern_info
from tests.hostile import VISIBLE, WELL_FORMED, unsafe
from tests.tui.helpers import app_for, live, screen_of, until
from tui.screens.approval import ApprovalScreen

SIZE = (120, 40)
BUBBLEWRAP = SandboxShown(
    backend="bubblewrap", isolated=True,
    limits={"wall_s": 30, "cpu_s": 30, "memory_mb": 512, "processes": 64, "output_kb": 64},
)
NONE = SandboxShown(backend="none", isolated=False, limits={"wall_s": 30})
LONG_CODE = "import math\n\n" + "".join(f"print('line {n:03}', math.sqrt({n}))\n" for n in range(80)) + "print('THE LAST LINE')\n"
"""Code far taller than the dialog."""
CHOICES = (
    Choice(id="run", label="Run", action="approve"),
    Choice(id="refuse", label="Refuse", action="reject", input="reason", prompt="Why?"),
)
HOSTILE_CODE = WELL_FORMED
"""Hostile text as code (a lone surrogate cannot be written to the record)."""


def runs_code(monkeypatch: pytest.MonkeyPatch, name: str, sandbox: SandboxShown, payload: dict) -> None:
    """A pattern "runs-code" whose coder asks to use code tool `name` once, with `payload`."""

    async def uses(ctx, task):
        tool = ToolAsked(name=name, description="Runs code in a sandbox", sandbox=sandbox)
        decision = await ctx.escalate(
            "tool_use", f"coder wants to use {name}", payload, agent="coder", tool=tool, choices=CHOICES,
        )
        return f"{decision.action} by {decision.by}" + (f" ({decision.rule})" if decision.rule else "")

    monkeypatch.setitem(patterns.PATTERNS, "runs-code", pattern_info("runs-code", uses))


def asking(app) -> bool:
    return isinstance(app.screen, ApprovalScreen) and app.screen.current is not None and app.screen.mode == "choose"


def shown(widget) -> Content:
    content = widget.render()
    assert isinstance(content, Content)
    return content


async def test_python_code_shows_whole_and_highlighted_with_the_sandbox_and_its_limits(monkeypatch):
    runs_code(monkeypatch, "run_python", BUBBLEWRAP, {"code": LONG_CODE})
    app = app_for(live(pattern="runs-code"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: asking(app), what="the dialog")
        dialog = app.screen
        sandbox = dialog.query_one("#sandbox")
        assert sandbox.display
        assert str(shown(sandbox)) == "Sandbox: bubblewrap · no network · 30 s · 512 MB · 64 processes · 64 KB output"
        payload = dialog.query_one("#payload")
        code = shown(payload)
        assert str(code) == "Code:\n" + LONG_CODE.rstrip("\n")  # every line, as written
        styles = {str(span.style) for span in code.spans}
        assert "$text-error" in styles and "$text-accent" in styles  # `import`, `print`: highlighted
        assert payload.outer_size.height >= LONG_CODE.count("\n") + 1  # every line laid out
        stake = dialog.query_one("#stake")
        assert stake.max_scroll_y > 0  # taller than the dialog: it scrolls
        stake.scroll_end(animate=False)
        await until(pilot, lambda: stake.scroll_y == stake.max_scroll_y > 0, what="the end of the code in view")
        assert payload.virtual_region.bottom <= stake.scroll_y + stake.scrollable_content_region.height
        assert dialog.query_one("#allow").display  # confined: "always allow" is offered
        await pilot.press("a")
        assert dialog.mode == "scope"
        await pilot.press("enter")
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.result == "approve by human (always allowed by human: run_python)"


async def test_a_shell_command_is_highlighted_as_bash(monkeypatch):
    command = "for f in *.py; do wc -l \"$f\"; done"
    runs_code(monkeypatch, "run_shell", BUBBLEWRAP, {"command": command, "cwd": "."})
    app = app_for(live(pattern="runs-code"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: asking(app), what="the dialog")
        code = shown(app.screen.query_one("#payload"))
        assert str(code).startswith(f"Command:\n{command}\n\nThe rest of the input:\n")  # the rest shows too
        assert '"cwd": "."' in str(code)
        keywords = [str(code)[span.start:span.end] for span in code.spans if str(span.style) == "$text-accent"]
        assert {"for", "in", "do", "done"} <= set(keywords)


async def test_unconfined_code_says_so_in_red_and_is_never_always_allowed(monkeypatch):
    runs_code(monkeypatch, "run_python", NONE, {"code": "print(6*7)"})
    app = app_for(live(pattern="runs-code"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: asking(app), what="the dialog")
        dialog = app.screen
        line = shown(dialog.query_one("#sandbox"))
        assert str(line) == "Sandbox: none · runs directly on this machine: nothing confines it"
        assert {str(span.style) for span in line.spans} == {"bold $text-error"}
        assert not dialog.query_one("#allow").display
        assert dialog.query_one("#approve").display and dialog.query_one("#reject").display
        await pilot.press("a")  # does nothing: not offered
        await pilot.pause()
        assert dialog.mode == "choose" and dialog.current is not None
        await pilot.press("enter")
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.result == "approve by human"  # asked, not allowed by a rule


async def test_hostile_code_shows_literally_and_does_nothing(monkeypatch):
    runs_code(monkeypatch, "run_shell", NONE, {"command": HOSTILE_CODE})
    app = app_for(live(pattern="runs-code"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: asking(app), what="the dialog")
        text = str(shown(app.screen.query_one("#payload")))
        assert all(visible in text for visible in VISIBLE), [v for v in VISIBLE if v not in text]
        assert unsafe(text) == []
        assert app.is_running and app.screen.current is not None  # [@click=app.quit] did not quit
        await pilot.press("enter")
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert app.is_running


def test_the_inbox_pane_shows_the_sandbox_and_the_code_highlighted():
    from engine.events import EscalationRequested
    from sessions.rows import SessionRow
    from tui.screens.inbox import stake
    from tui.waiting import Waiting

    row = SessionRow(
        id="c0de", created_at=0.0, updated_at=0.0, task="t", title="t", pattern="orchestrator", team="orchestrator",
        agents=("coder",), provider="simulated", models=(), seed=1, status="waiting", tokens_in=0, tokens_out=0,
        cost=0.0, calls=0, turns=0, duration_s=0.0, result=None, reason=None, partial=False, pid=1, host="h", last_seq=1,
    )
    escalation = EscalationRequested(
        session_id="c0de", seq=1, ts=0.0, agent="coder", escalation_id="e1", trigger="tool_use", rule="policy: default=ask",
        reason="coder wants to use run_python", payload={"code": LONG_CODE}, human=True,
        tool=ToolAsked(name="run_python", sandbox=NONE),
    )
    pane = stake(Waiting(row, escalation), now=0.0)
    text = str(pane)
    assert "\nSandbox: none · runs directly on this machine: nothing confines it\n" in text
    assert text.endswith("Code:\n" + LONG_CODE.rstrip("\n"))  # whole, as written
    red = [text[span.start:span.end] for span in pane.spans if str(span.style) == "bold $text-error"]
    assert red == ["Sandbox: none · runs directly on this machine: nothing confines it"]
    assert any(text[span.start:span.end] == "import" for span in pane.spans)  # highlighted
