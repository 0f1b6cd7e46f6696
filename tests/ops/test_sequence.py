"""Tests for the sequence family: slice, item, cycle (asyncio and trio, virtual clock)."""

from __future__ import annotations

import anyio
import pytest

import anystream as a
from anystream.testing import ScriptedSource, at, hang, raise_

pytestmark = pytest.mark.anyio


async def test_slice_picks_positions_and_closes_the_upstream_early() -> None:
    assert await (a.range(10) | a.slice(1, 7, 2)).collect() == [1, 3, 5]
    assert await (a.range(4) | a.slice(2)).collect() == [2, 3]
    assert await (a.range(4) | a.slice(3, 1)).collect() == []
    # ends at stop although the upstream then hangs forever
    start = anyio.current_time()
    src = ScriptedSource(at(1, "a"), at(2, "b"), hang())
    assert await (a.from_iterable(src) | a.slice(0, 2)).collect() == ["a", "b"]
    assert anyio.current_time() - start == pytest.approx(2)


async def test_item_positive_and_negative() -> None:
    assert await (a.range(10) | a.item(3)).collect() == [3]
    assert await (a.range(10) | a.item(-2)).collect() == [8]
    with pytest.raises(IndexError, match=r"item\(5\): the upstream ended after 3 items"):
        await (a.range(3) | a.item(5)).collect()
    with pytest.raises(IndexError, match=r"item\(-4\)"):
        await (a.range(3) | a.item(-4)).collect()
    src = ScriptedSource(at(1, "a"), hang())
    assert await (a.from_iterable(src) | a.item(0)).collect() == ["a"]


async def test_cycle_replays_the_first_pass() -> None:
    assert await (a.from_iterable("ab") | a.cycle() | a.take(7)).collect() == list("abababa")
    assert await (a.empty() | a.cycle()).collect() == []
    with pytest.raises(OverflowError, match=r"cycle: the upstream emitted more than max_items=2"):
        await (a.range(5) | a.cycle(max_items=2) | a.take(20)).collect()
    src = ScriptedSource(at(1, 1), raise_(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        await (a.from_iterable(src) | a.cycle()).collect()


async def test_cycle_first_pass_keeps_its_timing() -> None:
    start = anyio.current_time()
    times: list[float] = []
    src = ScriptedSource(at(1, "x"), at(3, "y"))
    async with (a.from_iterable(src) | a.cycle() | a.take(4)).stream() as items:
        async for _ in items:
            times.append(round(anyio.current_time() - start, 6))
    assert times == [1, 3, 3, 3]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: a.slice(-1), ValueError, r"slice\(\): start must be an int >= 0, got -1"),
        (lambda: a.slice(0, 3, 0), ValueError, r"slice\(\): step must be an int >= 1"),
        (lambda: a.slice("1"), TypeError, r"slice\(\): start must be an int, got str"),
        (lambda: a.item(1.5), TypeError, r"item\(\): index must be an int, got float"),
        (lambda: a.cycle(max_items=0), ValueError, r"cycle\(\): max_items must be an int >= 1"),
    ],
)
def test_bad_input(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]
