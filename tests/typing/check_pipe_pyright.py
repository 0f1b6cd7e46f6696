"""Pinned types that pyright (strict) proves and mypy does not: run by pyright only.

mypy infers all arguments of one call together, so a lambda in the second or later
operator of a single ``pipe()`` call is typed ``Any`` there (no error, no checking);
pyright solves them left to right. Excluded from mypy's ``files`` in pyproject.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from anystream import Stream, map, take, where


@dataclass
class Event:
    user: str
    value: float


def issue_pipeline(events: Stream[Event]) -> None:
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), take(2)),
        Stream[float],
    )
    assert_type(events.pipe(take(2), where(lambda e: e.value > 0)), Stream[Event])
    assert_type(
        events.pipe(map(lambda e: e.user), map(lambda u: len(u)), where(lambda n: n > 2)),
        Stream[int],
    )
