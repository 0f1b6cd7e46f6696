"""Deliberate mistakes in the lambdas of one ``pipe()`` call: every line marked
``expect-error`` must be reported by BOTH mypy --strict and pyright strict
(tests/typing/check_mistakes.py checks each line)."""

from __future__ import annotations

from dataclasses import dataclass

from anystream import Stream, buffered, map, parse, skip, take, where


@dataclass
class Event:
    user: str
    value: float


def parse_event(line: str) -> Event:
    user, value = line.split(",")
    return Event(user, float(value))


def only_ints(s: Stream[int]) -> Stream[int]:
    return s | take(1)


def mistakes(events: Stream[Event], lines: Stream[str]) -> None:
    events.pipe(where(lambda e: e.nope))  # expect-error: first operator
    events.pipe(where(lambda e: e.value > 0), where(lambda e: e.nope))  # expect-error
    events.pipe(take(1), where(lambda e: e.nope))  # expect-error: after a take
    events.pipe(take(1), buffered(2), skip(1), map(lambda e: e.nope))  # expect-error
    events.pipe(map(lambda e: e.user), where(lambda u: u.nope))  # expect-error: u is a str
    lines.pipe(parse(parse_event), take(2), where(lambda e: e.nope))  # expect-error
    events.pipe(where(lambda e: e.value > 0), map(lambda e: e.user), take(1), map(len))
    events.pipe(take(1), only_ints)  # expect-error: a Stream[int] function for events
