"""How amounts and text read, wherever they are shown: the app, the transcript, exports, escalations."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.events import ForkOrigin


def money(value: float) -> str:
    """US dollars: four decimals under a dollar, where agent calls mostly are."""
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def cost_text(cost: float | None, unpriced: int = 0, *, short: bool = False) -> str:
    """What calls cost, never a made-up number: "$0.0123" when every call had a price;
    "$0.0123 + ?" when `unpriced` of them had none (what the priced ones cost, and more);
    "cost unknown" when none had one, or for one call whose `cost` is None (its model has
    no price). `short`, for a column or a gauge: "$0.012+?" and "?"."""
    if cost is None or (unpriced and not cost):
        return "?" if short else "cost unknown"
    if not unpriced:
        return money(cost)
    if short:
        return (f"${cost:.3f}" if cost < 1 else f"${cost:.2f}") + "+?"
    return f"{money(cost)} + ?"


def clock(seconds: float) -> str:
    """Minutes and seconds: 0:07, 12:30."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def period(seconds: float) -> str:
    """A stretch of time as a person says it, to its two largest units: 12s, 3m 5s, 2h 3m, 4d 1h."""
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def count(number: int) -> str:
    """A count as it reads everywhere: 7, 1,130."""
    return f"{number:,}"


def plural(number: int, noun: str) -> str:
    """"1 issue", "3 issues", "1,130 calls"."""
    return f"{count(number)} {noun}{'' if number == 1 else 's'}"


def outcome(status: str, failed_steps: int = 0, skipped_steps: int = 0, *, short: bool = False) -> str:
    """A session's status, saying which steps did not get done: "completed with 3 failed
    steps"; `short` (for a list's column): "completed, 3 failed", "completed, 4 not done"."""
    if not failed_steps and not skipped_steps:
        return status
    if short:
        if failed_steps and skipped_steps:
            return f"{status}, {count(failed_steps + skipped_steps)} not done"
        return f"{status}, {count(failed_steps)} failed" if failed_steps else f"{status}, {count(skipped_steps)} skipped"
    if failed_steps and skipped_steps:
        return f"{status} with {count(failed_steps)} failed and {count(skipped_steps)} skipped steps"
    if failed_steps:
        return f"{status} with {plural(failed_steps, 'failed step')}"
    return f"{status} with {plural(skipped_steps, 'skipped step')}"


def headline(text: str, width: int = 60) -> str:
    """The first line of `text` as a title, cut on a word boundary to fit `width`."""
    lines = text.strip().splitlines()
    return _fit(" ".join(lines[0].split()) if lines else "untitled", width)


def preview(text: str, width: int = 100) -> str:
    """All of `text` on one line, cut on a word boundary to fit `width`."""
    return _fit(" ".join(text.split()), width)


def _fit(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    cut = line[: width - 1].rsplit(" ", 1)[0]
    return (cut or line[: width - 1]) + "…"


def amount(resource: str, value: float | None) -> str:
    """An amount of a budget's resource: $2.00 (cost), 30:00 (seconds), 1,130 (tokens,
    turns); "unlimited" for no limit."""
    if value is None:
        return "unlimited"
    if resource == "cost":
        return money(value)
    if resource == "seconds":
        return clock(value)
    return count(int(value))


def limits_text(limits: dict[str, float | None]) -> str:
    """The budgets that are set: "cost $2.00, turns 40, time 30:00"."""
    return ", ".join(
        f"{'time' if name == 'seconds' else name} {amount(name, value)}" for name, value in limits.items() if value is not None
    )


def tokens(count: int) -> str:
    """A token count at a glance: 950, 12,400 → 12.4k, 3.1M."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.1f}k"
    return f"{count:,}"


def when(ts: float, *, seconds: bool = False) -> str:
    """A local date and time: 2026-11-21 10:40 (with :05 seconds if asked)."""
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(ts))


def time_of_day(ts: float) -> str:
    """A local time with seconds: 10:40:05."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def one_line(error: BaseException) -> str:
    """An error as one readable line. A pydantic report gives its first problem, where
    it is as a key path ("agents[1].model: ..."), and how many more there are."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            items = errors()
            item = items[0]
            where = key_path(tuple(item.get("loc", ())))
            message = str(item.get("msg", "")).removeprefix("Value error, ")
            more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
            return f"{where}: {message}{more}" if where else f"{message}{more}"
        except Exception:  # noqa: BLE001 - fall back to the plain message
            pass
    return " ".join(str(error).split())


def key_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a key path: ("agents", 1, "model") -> agents[1].model."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "model-", "tagged-union")):
            continue
        else:
            path += ("." if path else "") + str(part)
    return path


def forked_text(origin: ForkOrigin) -> str:
    """Where a fork comes from, and what it changed there, in a line."""
    changed = f": {', '.join(origin.changes)}" if origin.changes else " (nothing changed)"
    return f"forked from {origin.session_id} at #{origin.at_seq}{changed}"
