"""Tests for with_latest_from and exhaust_map (asyncio and trio, virtual clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream._core.source import FactorySource
from anystream.testing import ScriptedSource, at, hang, raise_

pytestmark = pytest.mark.anyio


def script(*pairs: tuple[float, Any], end: Any = None) -> a.Stream[Any]:
    steps: list[Any] = [at(t, v) for t, v in pairs]
    if end is not None:
        steps.append(end)
    return a.from_iterable(ScriptedSource(*steps))


async def timed(stream: a.Stream[Any]) -> list[tuple[float, Any]]:
    start = anyio.current_time()
    out: list[tuple[float, Any]] = []
    async with stream.stream() as items:
        async for value in items:
            out.append((round(anyio.current_time() - start, 6), value))
    return out


async def test_with_latest_from_pairs_and_counts_early_drops() -> None:
    up = script((2, "a"), (8, "b"), (12, "c"))
    other = script((4, "x"), (6, "y"), (14, "z"))
    s = up | a.with_latest_from(other)
    assert await timed(s) == [(8, ("b", "y")), (12, ("c", "y"))]
    assert s.stats()["with_latest_from"].dropped == {"no latest yet": 1}


async def test_with_latest_from_keeps_the_last_value_and_closes_other() -> None:
    closed: list[bool] = []

    async def endless() -> AsyncIterator[int]:
        try:
            yield 1
            await anyio.sleep_forever()
        finally:
            closed.append(True)

    other = a.Stream(FactorySource(endless, "endless"))
    up = script((1, "a"), (2, "b"))
    assert await (up | a.with_latest_from(other)).collect() == [("a", 1), ("b", 1)]
    assert closed == [True]
    ended = script((1, "x"))
    assert await (script((2, "a"), (3, "b")) | a.with_latest_from(ended)).collect() == [
        ("a", "x"),
        ("b", "x"),
    ]


async def test_with_latest_from_errors_propagate() -> None:
    with pytest.raises(ValueError, match="boom"):
        await (
            script((5, 1)) | a.with_latest_from(script(end=raise_(ValueError("boom"))))
        ).collect()
    with pytest.raises(ValueError, match="up"):
        await (
            script((1, 1), end=raise_(ValueError("up"))) | a.with_latest_from(a.just(0))
        ).collect()


async def test_exhaust_map_ignores_items_while_busy() -> None:
    def inner(x: str) -> a.Stream[str]:
        return a.from_iterable(ScriptedSource(at(1, f"{x}1"), at(3, f"{x}2")))

    s = script((0, "a"), (2, "b"), (5, "c")) | a.exhaust_map(inner)
    assert await timed(s) == [(1, "a1"), (3, "a2"), (6, "c1"), (8, "c2")]
    assert s.stats()["exhaust_map"].dropped == {"inner stream running": 1}


async def test_exhaust_map_consumer_leaving_and_errors() -> None:
    s = script((0, 1), end=hang()) | a.exhaust_map(lambda x: a.interval(1)) | a.take(3)
    assert await s.collect() == [0, 1, 2]

    def bad(x: int) -> list[int]:
        raise KeyError(x)

    with pytest.raises(KeyError):
        await (a.range(2) | a.exhaust_map(bad)).collect()


def test_bad_input() -> None:
    with pytest.raises(TypeError, match=r"with_latest_from\(\): argument 1 must be a Stream"):
        a.with_latest_from([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"exhaust_map"):
        a.exhaust_map(3)  # type: ignore[call-overload]
