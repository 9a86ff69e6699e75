"""Faults the simulated provider injects on demand, deterministic for a seed.

A spec is a comma-separated list of `kind[:probability][@agent]`, for example
`rate_limit:0.3,mid_stream@coder,malformed:0.5`. The probability (default 1)
applies to each attempt of each call on its own, so a retry can succeed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FAULT_KINDS: dict[str, str] = {
    "rate_limit": "429 rate limited, with a retry-after",
    "overload": "529 overloaded",
    "timeout": "the call stalls until the per-call timeout fires",
    "mid_stream": "the stream breaks off after some text",
    "malformed": "a structured reply that is not the JSON asked for",
    "low_confidence": "confidence fields come back low",
    "reject": "reviewers and verdicts come back negative",
}


class FaultSpecError(ValueError):
    """A --faults value that cannot be read."""


@dataclass(frozen=True)
class Fault:
    kind: str
    probability: float = 1.0
    agent: str | None = None


def parse_faults(spec: str | None) -> tuple[Fault, ...]:
    """Read a fault spec; raises `FaultSpecError` with a one-line reason."""
    if not spec or not spec.strip():
        return ()
    faults = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        body, _, agent = item.partition("@")
        kind, _, probability_text = body.partition(":")
        kind = kind.strip()
        if kind not in FAULT_KINDS:
            raise FaultSpecError(
                f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}"
            )
        probability = 1.0
        if probability_text:
            try:
                probability = float(probability_text)
            except ValueError:
                raise FaultSpecError(
                    f"fault {kind!r}: {probability_text!r} is not a probability"
                ) from None
            if not 0.0 <= probability <= 1.0:
                raise FaultSpecError(f"fault {kind!r}: probability must be between 0 and 1")
        faults.append(Fault(kind, probability, agent.strip() or None))
    return tuple(faults)


def unit_hash(*parts: object) -> float:
    """A stable number in [0, 1) from its inputs (unlike `hash`, same in every process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def fault_hits(
    faults: tuple[Fault, ...], kind: str, *, seed: int, agent: str, call_key: str, attempt: int
) -> bool:
    for fault in faults:
        if fault.kind != kind or (fault.agent and fault.agent != agent):
            continue
        if unit_hash(seed, kind, call_key, attempt) < fault.probability:
            return True
    return False
