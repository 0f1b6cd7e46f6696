"""Deliberate mistakes: every line marked ``expect-error`` must be reported by BOTH
mypy --strict and pyright strict (tests/typing/check_mistakes.py checks each line)."""

from __future__ import annotations

from dataclasses import dataclass

from anystream import Stream, Window, from_iterable, map, map_async, parse, take, tumbling_window


@dataclass
class Event:
    user: str
    value: float


def parse_text(text: str) -> int:
    return int(text)


def double(n: int) -> int:
    return n * 2


def mistakes(events: Stream[Event], numbers: Stream[int]) -> None:
    numbers | parse(parse_text)  # expect-error: an int stream into a str parser
    numbers | map_async(double)  # expect-error: a sync function given to map_async
    events.pipe(map(lambda e: e.nope))  # expect-error: a lambda reading a missing attribute
    wrong: Stream[Window[int]] = events.pipe(tumbling_window(1.0))  # expect-error
    print(wrong)
    texts: Stream[str] = events | take(3)  # expect-error: take keeps Event
    print(texts)
    from_iterable([1, 2]).pipe(take(1), parse_text)  # expect-error: not an operator


async def iterating_a_stream_itself(events: Stream[Event]) -> None:
    async for _ in events:  # expect-error: a Stream is iterated through a run
        pass
