"""Deliberate mistakes with last round's operators and the typed windows and tuples:
every line marked ``expect-error`` must be reported by BOTH mypy --strict and pyright
strict (tests/typing/check_mistakes.py checks each line)."""

from __future__ import annotations

from dataclasses import dataclass

from anystream import (
    Stream,
    Window,
    parse,
    starmap,
    start_with,
    take_while,
    tap,
    tumbling_window,
    where,
    with_latest_from,
    zip_with,
)


@dataclass
class Event:
    user: str
    value: float


def user_of(e: Event) -> str:
    return e.user


def is_big(e: Event) -> bool:
    return e.value > 1


def label(n: int, text: str) -> str:
    return text * n


def use(events: Stream[Event]) -> None:
    print(events)


def mistakes(events: Stream[Event], numbers: Stream[int], texts: Stream[str]) -> None:
    events.pipe(where(lambda e: e.nope))  # expect-error: a lambda reading a missing attribute
    events.pipe(take_while(lambda e: e.nope))  # expect-error: the same in take_while
    events.pipe(tap(lambda e: print(e.nope)))  # expect-error: the same in tap
    use(events | start_with(1))  # expect-error: an int put before Events
    pairs: Stream[tuple[Event, str]] = events | zip_with(numbers)  # expect-error
    print(pairs)
    latest: Stream[tuple[int, str]] = events | with_latest_from(texts)  # expect-error
    print(latest)
    numbers | zip_with(numbers) | starmap(label)  # expect-error: (int, int) into (int, str)
    keyed: Stream[Window[Event, int]] = events | tumbling_window(1.0, key=user_of)  # expect-error
    print(keyed)
    where(is_big) | parse(int)  # expect-error: composing an Event operator with a str parser
