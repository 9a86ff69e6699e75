"""Plausible replies for the simulated provider: an agent's role answering its task.

Nothing here is a language model. A reply is assembled from sentence patterns
for the agent's kind of role, filled with the key phrases of what it was asked
(found the way RAKE finds them: runs of content words between stop words), so
a researcher's answer reads like research on *that* task and a coder's holds
code named after it.
"""

from __future__ import annotations

import random
import re

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers him his how i if in
    into is it its itself just let me more most my no nor not now of off on once only or
    other our ours out over own please same she should so some such than that the their
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours using use
    make makes need needs want wants write build create design implement give get
    one two three new way ways well like via per across within without toward towards
    subtask task step overall goal work worker workers agent agents team reply answer
    following must may might shall just based given short brief usually done around
    keeping report handling agreed behind explicitly covering sketch whose each
    results result needs research review final draft""".split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#./-]*")
# A leading verb is the ask, not the subject: "Plan a migration" is about the migration.
IMPERATIVES = frozenset(
    """plan migrate add fix refactor improve evaluate compare analyse analyze investigate
    propose prepare summarise summarize explain document test optimise optimize choose
    find decide outline draft review research assess audit port rewrite update""".split()
)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_ID = re.compile(r"[A-Za-z]\d{1,3}")
_SOURCE = re.compile(r'<agent_output source="([^"]+)"(?: step="([^"]*)")?(?: title="([^"]*)")?')


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: words and punctuation marks, close to real counts."""
    return len(_TOKEN.findall(text))


def key_phrases(text: str, limit: int = 5) -> list[str]:
    """The text's key phrases in order of appearance: runs of content words between
    stop words and punctuation (as RAKE finds candidates), acronyms kept, ids dropped."""
    phrases: list[str] = []
    seen: set[str] = set()
    current: list[str] = []

    def close() -> None:
        if current:
            phrase = " ".join(current[:4])
            if phrase.lower() not in seen:
                seen.add(phrase.lower())
                phrases.append(phrase)
            current.clear()

    first = True
    for piece in re.split(r"([,.;:!?()\[\]{}\"<>=`*#|]|\s+)", text):
        if not piece:
            continue
        if piece.isspace() and "\n" not in piece:
            continue
        word = piece.strip("'\".-/")
        if first and word:
            first = False
            if word.lower() in IMPERATIVES:
                continue
        if (
            _WORD.fullmatch(word or "")
            and word.lower() not in STOP_WORDS
            and len(word) > 1
            and not _ID.fullmatch(word)
        ):
            # Keep acronyms and names with inner capitals (REST, MySQL); lower the rest.
            current.append(word if any(c.isupper() for c in word[1:]) else word.lower())
            continue
        close()
    close()
    return phrases[:limit]


def role_kind(name: str, role: str) -> str:
    """Which family of replies suits an agent: lead, research, code, review, write, general."""
    text = f"{name} {role}".lower()
    families = (
        ("review", ("review", "critic", "qa", "tester", "audit", "verif", "judge")),
        ("lead", ("lead", "orchestrat", "manager", "planner", "coordinat", "moderat", "synthes", "chief", "router")),
        ("research", ("research", "analyst", "investigat", "scout", "scholar")),
        ("code", ("engineer", "coder", "developer", "programmer", "implement", "devops")),
        ("write", ("writer", "editor", "author", "copy", "document", "summar")),
    )
    for kind, needles in families:
        if any(needle in text for needle in needles):
            return kind
    return "general"


def identifier(phrase: str) -> str:
    """A Python name for a phrase: "Rate limiter" -> "rate_limiter"."""
    words = re.findall(r"[a-z0-9]+", phrase.lower())
    name = "_".join(words[:3]) or "solution"
    return name if not name[0].isdigit() else f"x_{name}"


def class_name(phrase: str) -> str:
    return "".join(w.capitalize() for w in identifier(phrase).split("_"))


_OPENERS = {
    "research": [
        "## Findings on {a}",
        "## What we know about {a}",
        "## Research notes: {a}",
    ],
    "code": ["## Implementation: {a}", "## A working {a}", "## Code for {a}"],
    "review": ["## Review of {a}", "## Review: {a}", "## Assessment of {a}"],
    "write": ["## {A}", "## Draft: {a}", "## On {a}"],
    "lead": ["## Summary: {a}", "## Result: {a}", "## {A}: the answer"],
    "general": ["## Notes on {a}", "## {A}", "## Working through {a}"],
}

_INTROS = {
    "research": [
        "I looked at how {a} is usually handled and what constrains it here. The short version: {b} matters more than it first appears, and {c} is where most of the risk sits.",
        "There are three established approaches to {a}, and they differ mainly in how they treat {b}. The evidence points to a simple design first, with {c} added only where measurements justify it.",
        "Most of the difficulty in {a} comes from {b}. Published experience is consistent on this: teams that settle {c} early avoid the expensive rework later.",
    ],
    "code": [
        "Below is a compact implementation of {a}. It keeps {b} explicit, has no hidden global state, and is easy to test in isolation.",
        "This is the smallest version of {a} that handles {b} correctly. I kept {c} behind one function so it can change without touching callers.",
        "Here is {a}, written to be read first and optimised later. The interface is two calls; {b} is handled in one place.",
    ],
    "review": [
        "I read the work on {a} with an eye on correctness first, then on {b}. Overall it is sound, with a few points worth fixing before it ships.",
        "The approach to {a} is reasonable. My concerns are mostly about {b} and about what happens at the edges of {c}.",
        "This is close. The core of {a} is right; the open questions are around {b} and how failures surface to the user.",
    ],
    "write": [
        "{A} is easier to get right than it looks, provided {b} is decided up front. What follows is a draft that keeps the reader's question in view.",
        "This draft explains {a} in plain terms, leads with {b}, and leaves the detail of {c} to the end.",
    ],
    "lead": [
        "The team's work on {a} comes together as follows. Each part was checked against the others, and the remaining risk is small and named below.",
        "Here is the combined answer for {a}, built from the team's findings, the implementation and the review.",
        "Putting the pieces together, {a} is in good shape: the design is settled, the code exists, and the review's points are addressed or listed.",
    ],
    "general": [
        "Taking {a} step by step: first {b}, then {c}, then the details that depend on both.",
        "{A} comes down to a few decisions. I lay them out below with the trade-offs of each.",
    ],
}

_POINTS = {
    "research": [
        "**{B}** is the main constraint; everything else can be tuned later.",
        "Prior art handles {b} with a bounded, explicit policy rather than ad-hoc checks.",
        "The common failure is treating {c} as an afterthought; it should shape the interface.",
        "Measurements beat intuition here: a small benchmark of {a} settles most debates.",
        "For {b}, the simplest correct option is usually fast enough at this scale.",
        "Watch for interactions between {b} and {c} under concurrency.",
        "Existing libraries cover parts of {a}, but none fits {c} without adaptation.",
    ],
    "code": [
        "Inputs are validated at the boundary, so {b} never sees bad data.",
        "Time is injected, which makes {a} deterministic under test.",
        "The state lives in one object; there are no module-level globals.",
        "Errors are raised with a message that names what to fix.",
        "{C} is isolated behind a small interface.",
    ],
    "review": [
        "**Correctness:** the handling of {b} is right for the common case; add a test for the empty input.",
        "**Edge cases:** {c} at its limits is not covered yet.",
        "**Naming:** a few names describe *how* rather than *what*; rename for readers.",
        "**Failure modes:** errors in {b} should say what the user can do about them.",
        "**Tests:** the main path is tested; concurrency around {a} is not.",
        "**Performance:** fine at the expected scale; measure before optimising {c}.",
    ],
    "write": [
        "Open with the problem {a} solves, in one sentence.",
        "Show one concrete example of {b} before any abstraction.",
        "Keep {c} to a short section with a clear heading.",
        "End with what the reader should do next.",
    ],
    "lead": [
        "**Design:** {b} is handled explicitly, as the research recommended.",
        "**Implementation:** the code covers {a} end to end and is small enough to review.",
        "**Review:** the points raised about {c} are either fixed or listed as follow-ups.",
        "**Risk:** the remaining unknown is behaviour under load; a benchmark is the next step.",
    ],
    "general": [
        "Decide how {b} is represented before writing anything else.",
        "Keep {c} separate so it can change on its own.",
        "Check the result against the original goal: {a}.",
        "Write down the assumptions so a reviewer can challenge them.",
    ],
}

_CLOSERS = {
    "research": [
        "### Open questions\n- How large does {b} get in practice?\n- Who owns decisions about {c}?",
        "### Recommendation\nStart with the simple approach to {a}, instrument it, and revisit {c} with data.",
    ],
    "code": [
        "### Next steps\n- Add property tests around {b}.\n- Wire {a} into the caller behind a flag.",
        "### Notes\nThe implementation is deliberately small; extending it to cover {c} means adding one method.",
    ],
    "review": [
        "**Verdict:** approve with the changes above.",
        "**Verdict:** good to merge once the edge cases around {c} have tests.",
    ],
    "write": ["### Next\nA second pass should tighten the section on {c}."],
    "lead": [
        "### Next steps\n1. Land the implementation of {a}.\n2. Add the tests the review asked for.\n3. Benchmark {b} under realistic load.",
        "### Open items\n- Follow-ups on {c} are tracked as separate tasks.\n- Everything else is ready.",
    ],
    "general": ["### Next\nConfirm the assumptions about {b}, then proceed."],
}


def _code_block(rng: random.Random, phrases: list[str]) -> str:
    name = identifier(phrases[0])
    cls = class_name(phrases[0])
    detail = identifier(phrases[1] if len(phrases) > 1 else "input")
    variants = [
        f'''```python
from dataclasses import dataclass, field


@dataclass
class {cls}:
    """{phrases[0]}, with {detail.replace("_", " ")} kept explicit."""

    limit: int
    seen: dict[str, int] = field(default_factory=dict)

    def check(self, key: str) -> bool:
        count = self.seen.get(key, 0)
        if count >= self.limit:
            return False
        self.seen[key] = count + 1
        return True
```''',
        f'''```python
def {name}(items: list[str], *, {detail}: int = 10) -> list[str]:
    """Return the {detail.replace("_", " ")} most relevant items, stable for ties."""
    if {detail} < 0:
        raise ValueError("{detail} must be zero or more")
    ranked = sorted(items, key=lambda item: (-len(item), item))
    return ranked[:{detail}]
```''',
        f'''```python
import asyncio


async def {name}(jobs, *, concurrency: int = 4):
    """Run {phrases[0].lower()} jobs with at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job):
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))
```''',
    ]
    return rng.choice(variants)


def _fill(template: str, phrases: list[str]) -> str:
    a, b, c = (phrases + ["the approach", "the constraints", "the edge cases"])[:3]
    return template.format(a=a, b=b, c=c, A=a[:1].upper() + a[1:], B=b[:1].upper() + b[1:], C=c[:1].upper() + c[1:])


def merged_phrases(task: str, prompt: str, limit: int = 4) -> list[str]:
    """The task's key phrases first (the subject), then the prompt's own."""
    focus = prompt.split("<agent_output", 1)[0]
    phrases = key_phrases(task, limit)
    for phrase in key_phrases(focus, limit * 2):
        if len(phrases) >= limit:
            break
        if phrase.lower() not in {p.lower() for p in phrases}:
            phrases.append(phrase)
    return phrases or ["the request"]


_UNFINISHED = re.compile(r"These ([\w ]+?) did not finish\b[^\n]*\n((?:- [^\n]*(?:\n|$))+)")
"""A prompt's list of the parts that did not get done (see `engine.patterns.orchestrator.unfinished`)."""


def missing_parts(prompt: str) -> tuple[str, list[str]]:
    """What a prompt says did not get done: ("subtasks", ["s2 (coder: ...): error, ..."]), or ("", [])."""
    found = _UNFINISHED.search(prompt.split("<agent_output", 1)[0])
    if found is None:
        return "", []
    return found.group(1), [line[2:] for line in found.group(2).splitlines() if line.startswith("- ")]


def reply_text(
    rng: random.Random, *, agent: str, role: str, task: str, prompt: str
) -> str:
    """A Markdown reply of 60 to 400 tokens, in the voice of the agent's role. Told that
    parts of the work did not get done, it says so first and lists them."""
    kind = role_kind(agent, role)
    phrases = merged_phrases(task, prompt)
    # Vary which phrase leads, so parallel steps on one task read differently.
    if len(phrases) > 2 and rng.random() < 0.3:
        phrases[1], phrases[2] = phrases[2], phrases[1]
    what, missing = missing_parts(prompt)
    if missing:
        return _incomplete(rng, kind, phrases, prompt, what, missing)

    parts = [
        _fill(rng.choice(_OPENERS[kind]), phrases),
        _fill(rng.choice(_INTROS[kind]), phrases),
    ]
    if kind == "lead" and (contributed := _contributions(prompt, "What each part contributed")):
        parts.append(contributed)
    points = rng.sample(_POINTS[kind], k=min(len(_POINTS[kind]), rng.randint(3, 5)))
    parts.append("\n".join(f"- {_fill(point, phrases)}" for point in points))
    if kind == "code":
        parts.append(_code_block(rng, phrases))
    parts.append(_fill(rng.choice(_CLOSERS[kind]), phrases))

    text = "\n\n".join(parts)
    while count_tokens(text) > 400 and len(parts) > 3:
        parts.pop(-2)
        text = "\n\n".join(parts)
    return text


def _contributions(prompt: str, heading: str) -> str:
    """Who contributed what, from the agent outputs in a prompt, under `heading` ("" when none)."""
    lines = [
        f"- **{source}**: {(title or step or 'their part').rstrip('.')}."
        for source, step, title in _SOURCE.findall(prompt)
    ]
    return f"### {heading}\n" + "\n".join(lines) if lines else ""


def _incomplete(rng: random.Random, kind: str, phrases: list[str], prompt: str, what: str, missing: list[str]) -> str:
    """A reply that does not claim the work is complete: it says what did not get done."""
    a = phrases[0]
    parts = [
        _fill(rng.choice(_OPENERS[kind]), phrases) + " (incomplete)",
        f"**This answer is incomplete:** {len(missing)} of the {what} did not get done, so parts of "
        f"{a} are missing and nothing below should be read as the finished work.",
        "### Not done\n" + "\n".join(f"- {item}" for item in missing),
        _contributions(prompt, "What was done"),
        f"### Next steps\n1. Redo the {what} that did not get done.\n2. Revisit this answer once they are in.",
    ]
    return "\n\n".join(part for part in parts if part)


def sentence(rng: random.Random, phrases: list[str], kind: str = "general") -> str:
    """One sentence for a free-text field of a structured reply."""
    return _fill(rng.choice(_INTROS[kind]).split(". ")[0].rstrip(".") + ".", phrases)


def point(rng: random.Random, phrases: list[str], kind: str) -> str:
    return _fill(rng.choice(_POINTS[kind]), phrases).replace("**", "")
