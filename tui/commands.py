"""The command palette: start with a pattern or a preset team, open a past session by title, the inbox."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from engine.formats import preview
from engine.patterns import PATTERNS
from tui.safe import safe


class HuddleCommands(Provider):
    """Patterns, preset teams and sessions, for ctrl+p. The palette reads a str as
    markup, so everything it shows goes in as Content."""

    def _static(self) -> list[tuple[str, str, object]]:
        app = self.app
        items: list[tuple[str, str, object]] = [
            ("New session", "Open the launch screen", app.action_launch),  # type: ignore[attr-defined]
            ("Browse sessions", "Past sessions: search, replay, export", app.action_browse),  # type: ignore[attr-defined]
            ("Inbox", "Every escalation waiting for you, in every running session (ctrl+b)", app.action_inbox),  # type: ignore[attr-defined]
        ]
        for info in PATTERNS.values():
            items.append((
                f"Pattern: {info.title}", f"{info.summary} Use when: {info.use_when}",
                partial(app.action_launch, pattern=info.name),  # type: ignore[attr-defined]
            ))
            items.append((
                f"Preset team: {info.name}", f"The preset team of {info.title}",
                partial(app.action_launch, pattern=info.name, team=info.name),  # type: ignore[attr-defined]
            ))
        return items

    async def discover(self) -> Hits:
        for name, help_text, callback in self._static():
            yield DiscoveryHit(Content(name), callback, help=Content(help_text))  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._static():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=Content(help_text))  # type: ignore[arg-type]
        store = getattr(self.app, "store", None)
        if store is None or len(query.strip()) < 2:
            return
        for row in safe(await store.list_sessions(search=query, limit=8)):
            yield Hit(
                0.5, Content(f"Session: {preview(row.title, 60)}"), partial(self.app.open_replay, row),  # type: ignore[attr-defined]
                help=Content(preview(f"{row.status} · {row.pattern} · {row.id[:8]}")),
            )
