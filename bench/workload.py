"""The reference workload (docs/concepts.md): parse -> filter -> enrich over CSV lines.

Everything here is plain synchronous code and deliberately cheap: the benchmarks measure
the *plumbing* between stages (generators, queues, streams, tasks), so the per-item work
must not dominate it. Lines are generated up front from a seed so that generation is never
inside a timed region and every run sees byte-identical input.
"""

from __future__ import annotations

import random
from typing import NamedTuple

TYPES = ("order", "auth", "payment", "search")
# "info" twice: the feed is mostly info, like a real log.
SEVERITY_NAMES = ("debug", "info", "info", "warn", "error")
SEVERITIES = {"debug": 10, "info": 20, "warn": 30, "error": 40}
INFO = SEVERITIES["info"]
REGIONS = {1: "eu-west", 2: "eu-central", 3: "us-east", 4: "us-west", 5: "ap-south"}

MALFORMED_EVERY = 8
_KNOWN_TYPES = frozenset(TYPES)


class Event(NamedTuple):
    ts: float
    type: str
    severity: int
    user_id: int


class EnrichedEvent(NamedTuple):
    ts: float
    type: str
    severity: int
    user_id: int
    region: str


def make_lines(n: int, seed: int = 0) -> list[str]:
    """``n`` raw lines ``ts,type,severity,user_id``; every 8th one is malformed.

    The malformations rotate through the ways a real feed breaks (missing field, non-numeric
    timestamp, unknown severity, non-numeric user, empty line), so each ``ValueError`` path
    of :func:`parse_line` is exercised.
    """
    rng = random.Random(seed)
    ts = 1_700_000_000.0
    lines: list[str] = []
    for i in range(n):
        ts += rng.random() * 0.01
        kind = rng.choice(TYPES)
        sev = rng.choice(SEVERITY_NAMES)
        user = rng.randint(1, 5)
        if i % MALFORMED_EVERY == MALFORMED_EVERY - 1:
            broken = (i // MALFORMED_EVERY) % 5
            if broken == 0:
                line = f"{ts:.3f},{kind},{sev}"
            elif broken == 1:
                line = f"not-a-time,{kind},{sev},{user}"
            elif broken == 2:
                line = f"{ts:.3f},{kind},fatal,{user}"
            elif broken == 3:
                line = f"{ts:.3f},{kind},{sev},user{user}"
            else:
                line = ""
        else:
            line = f"{ts:.3f},{kind},{sev},{user}"
        lines.append(line)
    return lines


def parse_line(line: str) -> Event:
    """Parse one line; ``ValueError`` if it is malformed (wrong field count, bad number...)."""
    ts, kind, sev, user = line.split(",")  # ValueError on a wrong field count
    severity = SEVERITIES.get(sev)
    if severity is None or kind not in _KNOWN_TYPES:
        raise ValueError(f"malformed line: {line!r}")
    return Event(float(ts), kind, severity, int(user))


def is_relevant(event: Event) -> bool:
    return event.severity >= INFO


def enrich(event: Event) -> EnrichedEvent:
    # A dict lookup standing in for the ~30 ms region service of the real pipeline: the
    # benchmark isolates the per-item overhead of the plumbing, not I/O latency.
    return EnrichedEvent(
        event.ts, event.type, event.severity, event.user_id, REGIONS[event.user_id]
    )


def expected_output(lines: list[str]) -> list[EnrichedEvent]:
    """The correct result, computed with the plainest possible loop."""
    out: list[EnrichedEvent] = []
    for line in lines:
        try:
            event = parse_line(line)
        except ValueError:
            continue
        if is_relevant(event):
            out.append(enrich(event))
    return out


def check_output(result: object, expected: list[EnrichedEvent]) -> None:
    """Raise ``AssertionError`` naming the first difference; full comparison, in order."""
    if not isinstance(result, list):
        raise AssertionError(f"expected a list, got {type(result).__name__}")
    if len(result) != len(expected):
        raise AssertionError(f"expected {len(expected)} events, got {len(result)}")
    if result != expected:
        first = next(i for i, (a, b) in enumerate(zip(result, expected)) if a != b)
        raise AssertionError(
            f"event {first} differs: got {result[first]!r}, expected {expected[first]!r}"
        )
