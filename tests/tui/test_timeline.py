"""The timeline list follows the session's view: new entries at the end, a replay's
step back drops entries from the end, and the list stays bounded."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.view import Entry, SessionView
from tui.widgets.timeline import Timeline


class TimelineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Timeline()


def entry(seq: int) -> Entry:
    return Entry(seq, seq / 10, "coder", "▶", f"step {seq}")


def shown(timeline: Timeline) -> list[int]:
    return [timeline.entry_at(i).seq for i in range(timeline.option_count)]  # type: ignore[union-attr]


async def test_a_long_session_keeps_the_list_bounded_and_the_highlight_where_it_was(monkeypatch):
    monkeypatch.setattr(Timeline, "SLACK", 5)
    view = SessionView(timeline_limit=20)
    app = TimelineApp()
    async with app.run_test() as pilot:
        timeline = app.query_one(Timeline)
        for seq in range(1, 101):
            view.timeline.append(entry(seq))
            timeline.sync(view)
            assert timeline.option_count <= 20 + 5
            assert shown(timeline)[-20:] == list(range(max(1, seq - 19), seq + 1))
            if seq == 90:
                timeline.highlighted = timeline.option_count - 10  # a reader looking back
                reading = timeline.entry_at(timeline.highlighted)
        await pilot.pause()
        assert timeline.entry_at(timeline.highlighted) == reading


async def test_moving_back_drops_entries_from_the_end_only():
    view = SessionView()
    app = TimelineApp()
    async with app.run_test() as pilot:
        timeline = app.query_one(Timeline)
        view.timeline.extend(entry(seq) for seq in range(1, 11))
        timeline.sync(view)
        first = list(timeline.options[:7])
        for _ in range(3):
            view.timeline.pop()
        timeline.sync(view)
        await pilot.pause()
        assert shown(timeline) == list(range(1, 8))
        assert list(timeline.options) == first  # kept, not built again


class NarrowTimelineApp(App[None]):
    CSS = "Timeline { width: 40; height: 10; }"

    def compose(self) -> ComposeResult:
        yield Timeline()


async def test_wrapped_entries_lose_no_character_when_the_scrollbar_appears():
    """Entries wrap over lines; once there are more than fit, the scrollbar takes a
    column. Every character of every entry is still drawn, inside the list."""
    texts = [f"{seq} handoff router → technical support engineer under 60%): escalated (1 of 1)" for seq in range(12)]
    view = SessionView()
    app = NarrowTimelineApp()
    async with app.run_test(size=(60, 20)) as pilot:
        timeline = app.query_one(Timeline)
        for seq, text in enumerate(texts, 1):  # one at a time, as a session adds them
            view.timeline.append(Entry(seq, 0.0, None, "·", text))
            timeline.sync(view)
            await pilot.pause()
        assert timeline.show_vertical_scrollbar
        timeline.scroll_home(animate=False, immediate=True)
        width = timeline.scrollable_content_region.width
        drawn = [timeline.render_line(y).crop(0, width).text for y in range(timeline.virtual_size.height)]
        expected = [f"+0:00 · {text}" for text in texts]
        assert "".join("".join(drawn).split()) == "".join("".join(expected).split())
