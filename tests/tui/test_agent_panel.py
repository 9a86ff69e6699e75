"""An agent's panel: each call's text whole, under one heading that says what it is for."""

from __future__ import annotations

import asyncio

import pytest

from engine.events import EventBase
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from tests.helpers import run
from tests.tui.helpers import screen_of, until
from tests.tui.scenes import mid_run
from tui.app import make_app
from tui.widgets.agent_panel import AgentPanel


@pytest.fixture(scope="module")
def auction() -> list[EventBase]:
    """An auction: bidders bid on two lots at once, so they have two calls streaming together."""

    async def record() -> list[EventBase]:
        ran = await run(SimulatedProvider(seed=1, speed=0), pattern="auction", policy=ApprovalPolicy(default="approve"))
        return ran.events

    return asyncio.run(record())


@pytest.fixture(scope="module")
def coder_mid_run() -> list[EventBase]:
    return mid_run()


def at_once(events: list[EventBase], agent: str) -> list[EventBase]:
    """The session again, with `agent`'s first two calls made at once: both start, then
    their text arrives a character from each in turn, as two streams at once do."""
    keys = list(dict.fromkeys(e.call_key for e in events if e.kind == "call.started" and e.agent == agent))[:2]
    calls = [[e for e in events if getattr(e, "call_key", None) == key] for key in keys]
    first = events.index(calls[0][0])
    rest = [e for e in events[first:] if getattr(e, "call_key", None) not in keys]
    started = [call[0] for call in calls]
    pieces = [[d.model_copy(update={"text": ch}) for d in call if d.kind == "call.delta" for ch in d.text] for call in calls]
    mixed = [piece for pair in zip(*pieces) for piece in pair]
    longer = max(pieces, key=len)[min(map(len, pieces)):]
    ends = [e for call in calls for e in call if e.kind != "call.delta" and e not in started]
    scene = events[:first] + started + mixed + longer + ends + rest
    return [e.model_copy(update={"seq": seq}) for seq, e in enumerate(scene, 1)]


def shown_rows(panel: AgentPanel) -> list[str]:
    """The panel's text as drawn: its title, its stream's rows, its stats and status."""
    stream = panel.stream
    rows = [stream.render_line(y).text for y in range(stream.size.height)]
    return [str(panel.border_title), *rows, str(panel.query_one("#stats").render()), str(panel.border_subtitle)]


async def test_calls_made_at_once_each_show_whole_under_their_own_rule(auction):
    scene = at_once(auction, "researcher")
    keys = [e.call_key for e in scene if e.kind == "call.delta" and e.agent == "researcher"]
    assert keys[0] != keys[1], "the scene mixes the two calls' text"
    app = make_app(events=scene)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="the session shown")
        text = "\n".join(screen.panels["researcher"].stream.text_lines)
        replies = [e for e in scene if e.kind == "call.finished" and e.agent == "researcher"]
        assert len(replies) >= 2
        for e in replies:
            at = text.find(e.text)
            assert at >= 0, f"the reply to {e.call_key} is not in one piece"
            heading = text[:at].rstrip("\n").rsplit("\n", 1)[-1]
            assert heading.startswith("── "), heading


async def test_while_two_calls_stream_the_panel_shows_one_and_says_two_are_under_way(auction):
    scene = at_once(auction, "researcher")
    deltas = [i for i, e in enumerate(scene) if e.kind == "call.delta" and e.agent == "researcher"]
    first, second = dict.fromkeys(scene[i].call_key for i in deltas)
    app = make_app(events=scene[: deltas[40]])
    async with app.run_test(size=(200, 50)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: "researcher" in screen.panels and screen.view.seq > 0, what="panels")
        await pilot.pause()
        panel = screen.panels["researcher"]
        assert "● streaming · 2 calls at once" in str(panel.border_subtitle)
        shown = "\n".join([*panel.stream.text_lines, panel.stream._partial])
        streamed = "".join(scene[i].text for i in deltas[:40] if scene[i].call_key == first)
        assert shown.endswith(streamed)  # the first call's text as it streams, and nothing of the second's
        assert [line for line in panel.stream.text_lines if line.startswith("── ")] == ["── lot 1 · bid researcher "]


async def test_the_subtask_heading_shows_once_and_stays_in_view_when_its_text_scrolls(coder_mid_run):
    app = make_app(events=coder_mid_run)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: "coder" in screen.panels and screen.view.seq > 0, what="panels")
        await pilot.pause()
        coder = screen.panels["coder"]
        stream = coder.stream
        assert stream.max_scroll_y > 0, "the coder's text is longer than its panel"
        rows = shown_rows(coder)
        assert sum("s3 · Implement" in row for row in rows) == 1
        assert rows[1].startswith("── s3 · Implement")  # pinned on the stream's top row
        headings = [line for line in stream.text_lines if line.startswith("── ")]
        assert len(headings) == 2  # s2, then s3
        seen = set()
        for y in range(stream.max_scroll_y + 1):  # wherever the reader scrolls to
            stream.scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            rows = shown_rows(coder)
            # What the text in view is for; not over a call's last line, right above the next's rule.
            assert rows[1].startswith("── s") or rows[2].startswith("── s"), (y, rows[1:3])
            for heading in headings:
                assert sum(heading.strip() in row for row in rows) <= 1, (y, heading)
            seen.add(rows[1].split(" · ")[0])
        assert {"── s2", "── s3"} <= seen
