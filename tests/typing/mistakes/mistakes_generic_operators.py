"""Deliberate mistakes with generic ``@operator`` functions that change the item type:
every line marked ``expect-error`` must be reported by BOTH mypy --strict and pyright
strict (tests/typing/check_mistakes.py checks each line)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from anystream import Stream, map, operator, parse, take, where

T = TypeVar("T")


@dataclass
class Event:
    user: str
    value: float


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for item in source:
        yield [item]


@operator
async def tagged(source: AsyncIterator[T], tag: str) -> AsyncIterator[tuple[str, T]]:
    async for item in source:
        yield (tag, item)


def is_big(e: Event) -> bool:
    return e.value > 1


def value_of(e: Event) -> float:
    return e.value


def mistakes(events: Stream[Event], numbers: Stream[int]) -> None:
    texts: Stream[list[str]] = events | listed()  # expect-error: lists of Events
    print(texts)
    piped: Stream[list[str]] = events.pipe(where(is_big), listed())  # expect-error
    print(piped)
    pairs: Stream[tuple[str, int]] = events | tagged("a")  # expect-error: (str, Event)
    print(pairs)
    events | tagged(1)  # expect-error: the tag is a str
    numbers | listed() | parse(int)  # expect-error: lists of ints into a str parser
    events | (listed() | map(value_of))  # expect-error: a list is not an Event
    events | (take(2) | tagged("a") | map(value_of))  # expect-error: a tuple is not an Event
    events.pipe(listed()).pipe(map(lambda xs: xs.nope))  # expect-error: a list has no nope
