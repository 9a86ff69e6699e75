"""The one gate for untrusted text: `clean` removes controls and keeps the text; `safe`
reaches every string of every event, row and team file; and every consumer of
events (the screens' view, the transcript, the console prompts, the Markdown
export) takes them through it."""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from typing import Any

import pytest

from engine.events import EVENT_KINDS, EVENT_TYPES, EventBase, EscalationRequested, PlanMade, SessionStarted
from sessions.export import write_markdown
from sessions.rows import SessionRow
from tests.hostile import HOSTILE, SHORT, VISIBLE, hostile, strings, unsafe
from tui.console import ConsolePrompter, Output
from tui.safe import MAX_DEPTH, clean, clean_line, safe
from tui.transcript import Transcript
from tui.view import SessionView

# -- clean: what each kind of control becomes ------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    # Nothing hides behind a lone C1 or an unterminated string: the text stays.
    ("Step one \x9d HIDDEN rm -rf ~", "Step one  HIDDEN rm -rf ~"),
    ("before \x1b]0;UNTERMINATED still shown", "before ]0;UNTERMINATED still shown"),
    ('{"a": "x\x9d", "b": "rm -rf ~"}', '{"a": "x", "b": "rm -rf ~"}'),
    # A terminated string loses its introducer and terminator, never its words.
    ("a\x1b]0;pwned\x07b", "a]0;pwnedb"),
    ("a\x1b]52;c;cm0gLXJmIH4=\x1b\\b", "a]52;c;cm0gLXJmIH4=\\b"),
    ("a\x9d8;;http://x\x9clink\x9d8;;\x9cb", "a8;;http://xlink8;;b"),
    ("\x1bPq#0~\x1b\\ \x1b_G\x1b\\", "Pq#0~\\ _G\\"),
    # Complete CSI sequences (numbers and a command) go whole, in both forms.
    ("x\x1b[2Jy\x1b[31;1mred\x1b[0m", "xyred"),
    ("\x1b[6n\x1b[c\x9b2J!", "!"),
    ("\x1b[" + "1" * 40 + "m", "[" + "1" * 40 + "m"),  # too long to be one: only ESC goes
    # Single controls.
    ("nul\x00del\x7fbs\x08x\x07\x0b\x0c\x1b", "nuldelbsx"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("progress 10%\rprogress 100%\r\nend\u2028next\u2029para", "progress 10%\nprogress 100%\nend\nnext\npara"),
    # Invisible and reordering characters go; hidden ASCII (tags) and lone surrogates show as U+FFFD.
    ("\u202etxt.exe\u202c \u2066iso\u2069 \u200e\u200f", "txt.exe iso "),
    ("pay\u200bpal \ufeffbom \u00adsoft \u2060wj", "paypal bom soft wj"),
    ("\U0001f468\u200d\U0001f469", "\U0001f468\U0001f469"),
    ("tag\U000e0041\U000e0042", "tag\ufffd\ufffd"),
    ("lone \ud800 and \udcff", "lone \ufffd and \ufffd"),
    # Everything else is kept as it is.
    ("[@click=app.quit]x[/] 表格 \U0001f600 e\u0301", "[@click=app.quit]x[/] 表格 \U0001f600 e\u0301"),
])
def test_clean_removes_controls_and_keeps_the_text(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_the_whole_corpus_comes_out_safe_with_its_words() -> None:
    shown = clean(HOSTILE)
    assert unsafe(shown) == []
    for words in VISIBLE:
        assert words in shown
    assert "x" * 3000 in shown
    assert clean(shown) == shown  # once is enough


def test_text_that_needs_nothing_is_the_same_string() -> None:
    text = "A plan: [s1] → research 表格 \U0001f600\n\tdone"
    assert clean(text) is text


# -- clean: properties over random text ----------------------------------------------------------

TEXT = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "é", "表", "\U0001f600", "\u0301", "Ω", "\u00a0"]
"""What text pieces are made of: printable ASCII, tab, and characters from other planes."""

CONTROLS: list[tuple[str, str]] = [
    # (raw, what of it shows)
    *[(chr(c), "") for c in [*range(0x00, 0x09), *range(0x0B, 0x0D), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F]],
    *[(chr(c), "") for c in range(0x80, 0xA0) if c != 0x9B],
    ("\x1b[2J", ""), ("\x1b[31;1m", ""), ("\x1b[?1049l", ""), ("\x1b[6n", ""), ("\x1b[>1u", ""), ("\x9b0m", ""),
    ("\x1b]", "]"), ("\x1bP", "P"), ("\x1b_", "_"), ("\x1b^", "^"), ("\x1bX", "X"), ("\x1b\\", "\\"),
    ("\r", "\n"), ("\r\n", "\n"), ("\u2028", "\n"),
    ("\u202e", ""), ("\u2066", ""), ("\u200d", ""), ("\u200b", ""), ("\ufeff", ""), ("\u00ad", ""),
    ("\U000e0041", "\ufffd"), ("\ud800", "\ufffd"), ("\udfff", "\ufffd"),
]
"""Control pieces whose effect does not depend on what follows them. (A lone ESC or
CSI introducer is left out: with the text after it, it may form a complete CSI.)"""


@pytest.mark.parametrize("seed", range(8))
def test_every_printable_character_survives_in_order_and_no_control_does(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        raw, expected = [], []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.5:
                piece = "".join(rng.choice(TEXT) for _ in range(rng.randint(1, 12)))
                raw.append(piece)
                expected.append(piece)
            else:
                control, shown = rng.choice(CONTROLS)
                raw.append(control)
                expected.append(shown)
        text = "".join(raw)
        assert clean(text) == "".join(expected), repr(text)
        assert unsafe(clean(text)) == []


def test_every_control_format_and_surrogate_code_point_goes() -> None:
    """Whatever Unicode calls a control (Cc), a format character (Cf) or a surrogate
    (Cs) does not show, but for the few format characters that show as marks."""
    marks = {0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD}
    marks |= set(range(0x13430, 0x13440))
    invisible = "".join(
        chr(c) for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs") and c not in marks and chr(c) not in "\t\n\r"
    )
    assert set(clean(invisible)) <= {"\ufffd"}


def test_a_lone_introducer_takes_at_most_one_short_command() -> None:
    """A CSI introducer followed by text forms a complete sequence with its first
    character: that is the most the rules take, never the rest of the text."""
    assert clean("\x9bHIDDEN rm -rf ~") == "IDDEN rm -rf ~"
    assert clean("\x1b[ rm -rf ~") == "m -rf ~"
    assert clean("\x1bHIDDEN") == "HIDDEN"


def test_clean_line_is_one_line_cut_to_width() -> None:
    assert clean_line("a\x1b[2J\nb\r\x9dc") == "a b c"
    assert clean_line("word " * 40, 20) == "word word word…"


# -- safe: every string of every value ---------------------------------------------------------


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_string_of_every_event_kind_passes_the_gate(kind: str) -> None:
    cls = next(c for c in EVENT_TYPES if c.model_fields["kind"].default == kind)
    event = hostile(cls)
    made_safe = safe(event)
    assert type(made_safe) is cls and made_safe.kind == kind
    before, after = strings(event), strings(made_safe)
    assert len(before) == len(after) and before.count(HOSTILE) > 1
    assert after == [clean(HOSTILE) if text == HOSTILE else text for text in before]
    assert [text for text in after if unsafe(text)] == []


def test_safe_reaches_nested_plans_payloads_teams_and_rows() -> None:
    plan = {"steps": [{"id": SHORT, "title": SHORT, "depends_on": [SHORT], SHORT: {"deep": (SHORT,)}}]}
    made_safe = safe(PlanMade(session_id="s", seq=1, ts=0.0, plan=plan))
    assert [text for text in strings(made_safe) if unsafe(text)] == []
    assert made_safe.plan["steps"][0]["title"] == clean(SHORT)
    assert plan["steps"][0]["title"] == SHORT  # the event itself is left as it was

    started = safe(hostile(SessionStarted))
    assert started.team.get(started.team.agents[0].name) is started.team.agents[0]  # no stale index
    shown = safe(stored_row())
    assert isinstance(shown, SessionRow) and [text for text in strings(shown) if unsafe(text)] == []
    assert shown.agents == (clean(SHORT),) and "HIDDEN rm -rf ~" in shown.task


def test_safe_returns_the_same_object_when_nothing_needs_cleaning() -> None:
    event = PlanMade(session_id="s", seq=1, ts=0.0, plan={"steps": [{"id": "s1", "title": "Research"}]})
    assert safe(event) is event


def stored_row() -> SessionRow:
    """A session row with hostile text in every text column."""
    return SessionRow(
        id="abc", created_at=0.0, updated_at=0.0, task=HOSTILE, title=SHORT, pattern=SHORT, team=SHORT,
        agents=(SHORT,), provider=SHORT, models=(SHORT,), seed=1, status="completed", tokens_in=0, tokens_out=0,
        cost=0.0, calls=0, turns=0, duration_s=0.0, result=HOSTILE, reason=SHORT, partial=False, pid=1, host=SHORT,
        last_seq=1,
    )


def test_data_nested_deeper_than_the_gate_follows_is_shown_as_clean_text() -> None:
    deep: Any = SHORT
    for _ in range(MAX_DEPTH + 10):
        deep = [deep]
    shown = safe(deep)
    assert [text for text in strings(shown) if unsafe(text)] == []
    assert "HIDDEN rm -rf ~" in str(shown)


# -- every consumer of events takes them through the gate -----------------------------------------


def every_event() -> list[EventBase]:
    """One hostile event of each kind, in an order the folds accept."""
    events = [hostile(cls) for cls in EVENT_TYPES]
    plan = {"steps": [{"id": SHORT, "title": SHORT, "assigned_to": SHORT, "instructions": HOSTILE, "depends_on": [SHORT]}]}
    events.append(PlanMade(session_id="s", seq=99, ts=1.0, agent=SHORT, plan=plan))
    return sorted(events, key=lambda e: e.kind != "session.started")


def test_the_screens_view_holds_only_safe_text() -> None:
    view = SessionView()
    view.apply_all(every_event())
    held = strings(vars(view))
    assert [text for text in held if unsafe(text)] == []
    assert any("HIDDEN rm -rf ~" in text for text in held)


def test_the_transcript_prints_only_safe_text() -> None:
    out: list[str] = []
    transcript = Transcript(out.append)
    for event in every_event():
        transcript.feed(event)
    printed = "".join(out)
    assert unsafe(printed) == [] and "HIDDEN rm -rf ~" in printed


def test_coloured_transcript_writes_only_its_own_colours() -> None:
    out: list[str] = []
    transcript = Transcript(out.append, colour=True)
    for event in every_event():
        transcript.feed(event)
    printed = "".join(out)
    assert unsafe(re.sub(r"\x1b\[[0-9;]*m", "", printed)) == []


async def test_the_markdown_export_writes_only_safe_text() -> None:
    async def events():
        for event in every_event():
            yield event

    out: list[str] = []
    await write_markdown(stored_row(), events(), out.append, gate=safe)
    document = "".join(out)
    assert unsafe(document) == [] and "HIDDEN rm -rf ~" in document


def test_the_console_prompts_and_editor_get_the_safe_payload() -> None:
    prompter = ConsolePrompter(None, Output(sys.stdout), None)  # type: ignore[arg-type]
    event = hostile(EscalationRequested).model_copy(update={"human": True, "payload": {"steps": [{"title": HOSTILE}]}})
    prompter.feed(event)
    queued = prompter._queue.get_nowait()
    assert [text for text in strings(queued) if unsafe(text)] == []
    assert "HIDDEN rm -rf ~" in queued.payload["steps"][0]["title"]
