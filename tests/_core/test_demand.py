"""A stage that reads nothing ahead (``flat_map``): the source is pulled only on request.

The runner joins the source's task to such a stage with ``handoff.demand_link``: the
source loop asks for an item only when the stage is waiting to receive one. Checked
against a lazy source that logs its pulls, with per-item operators in between (a drop
must not use up the request), a graceful stop while the stage works, and an error that
the source raises after an item (it must arrive after that item's inner stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from anystream import Stream, flat_map, from_iterable, map, take, where

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _lazy_sync(log: list[str], n: int, fail: bool = False) -> Iterator[int]:
    for i in range(n):
        log.append(f"pull {i}")
        yield i
    if fail:
        log.append("raise")
        raise ZeroDivisionError


async def _lazy_async(log: list[str], n: int, fail: bool = False) -> AsyncIterator[int]:
    for i in range(n):
        await anyio.sleep(0.01)
        log.append(f"pull {i}")
        yield i
    if fail:
        log.append("raise")
        raise ZeroDivisionError


def _source(log: list[str], n: int, asynchronous: bool, fail: bool = False) -> Stream[int]:
    return from_iterable(_lazy_async(log, n, fail) if asynchronous else _lazy_sync(log, n, fail))


def _inner(log: list[str]) -> object:
    async def inner(x: int) -> AsyncIterator[str]:
        for j in range(2):
            await anyio.sleep(0.1)
            log.append(f"inner {x}.{j}")
            yield f"{x}.{j}"
        log.append(f"end {x}")

    return inner


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_each_outer_item_is_pulled_after_the_previous_inner_ended(
    asynchronous: bool,
) -> None:
    log: list[str] = []
    stream = _source(log, 3, asynchronous) | flat_map(_inner(log))  # type: ignore[arg-type]
    assert await stream.collect() == [f"{x}.{j}" for x in range(3) for j in range(2)]
    assert log == [
        entry
        for k in range(3)
        for entry in (f"pull {k}", f"inner {k}.0", f"inner {k}.1", f"end {k}")
    ]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_an_item_dropped_before_the_stage_does_not_use_up_its_request(
    asynchronous: bool,
) -> None:
    log: list[str] = []
    stream = (
        _source(log, 6, asynchronous)
        | where(lambda x: x % 2 == 0)
        | map(lambda x: x * 10)
        | flat_map(lambda x: [x, x + 1])
    )
    got: list[int] = []
    async with stream.stream() as run:
        async for y in run:
            got.append(y)
            log.append(f"got {y}")
    assert got == [0, 1, 20, 21, 40, 41]
    # 1 is pulled (and dropped) only after 0's inner items were taken.
    assert log.index("pull 1") > log.index("got 1")
    assert log.index("pull 3") > log.index("got 21")
    assert run.stats()["where"].dropped == {"filtered": 3}


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_stop_while_the_stage_works_pulls_nothing_more(asynchronous: bool) -> None:
    log: list[str] = []
    stream = _source(log, 100, asynchronous) | flat_map(_inner(log))  # type: ignore[arg-type]
    got: list[str] = []
    async with stream.stream() as run:
        async for y in run:
            got.append(y)
            if y == "1.0":
                run.stop()
    assert got == ["0.0", "0.1", "1.0", "1.1"]
    assert [e for e in log if e.startswith("pull")] == ["pull 0", "pull 1"]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_an_error_after_an_item_arrives_after_its_inner_stream(asynchronous: bool) -> None:
    log: list[str] = []
    stream = _source(log, 1, asynchronous, fail=True) | flat_map(_inner(log))  # type: ignore[arg-type]
    got: list[str] = []
    with pytest.raises(ZeroDivisionError):
        async with stream.stream() as run:
            async for y in run:
                got.append(y)
    assert got == ["0.0", "0.1"]
    assert log.index("raise") > log.index("end 0")


async def test_take_after_flat_map_leaves_the_rest_unpulled() -> None:
    log: list[str] = []
    stream = _source(log, 100, False) | flat_map(lambda x: [x, x]) | take(3)
    assert await stream.collect() == [0, 0, 1]
    assert [e for e in log if e.startswith("pull")] == ["pull 0", "pull 1"]
