"""Tests for share() and broadcast() (asyncio and trio, virtual clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream._core.source import FactorySource
from anystream.testing import ScriptedSource, at, hang, raise_

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


class Boom(Exception):
    pass


def script(*pairs: tuple[float, Any], end: Any = None) -> a.Stream[Any]:
    steps: list[Any] = [at(t, v) for t, v in pairs]
    if end is not None:
        steps.append(end)
    return a.from_iterable(ScriptedSource(*steps))


class Counted:
    """A source that counts how often it was opened and closed."""

    def __init__(self, n: int, gap: float = 1.0) -> None:
        self.n = n
        self.gap = gap
        self.opened = 0
        self.closed = 0

    def stream(self) -> a.Stream[int]:
        async def gen() -> AsyncIterator[int]:
            self.opened += 1
            try:
                for i in range(self.n):
                    await anyio.sleep(self.gap)
                    yield i
            finally:
                self.closed += 1

        return a.Stream(FactorySource(gen, "counted"))


async def timed(stream: a.Stream[Any], out: list[tuple[float, Any]], *, delay: float = 0) -> None:
    await anyio.sleep(delay)
    start = 0.0
    async with stream.stream() as items:
        async for value in items:
            out.append((round(anyio.current_time() - start, 6), value))


async def test_share_runs_the_upstream_once_for_two_subscribers() -> None:
    src = Counted(4)
    s = a.share(src.stream())
    got: dict[str, list[Any]] = {}

    async def sub(key: str) -> None:
        got[key] = await s.collect()

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sub, "x")
            tg.start_soon(sub, "y")
    assert got == {"x": [0, 1, 2, 3], "y": [0, 1, 2, 3]}
    assert (src.opened, src.closed) == (1, 1)


async def test_late_subscriber_sees_only_later_items() -> None:
    # rxjs share-spec "should share a single subscription" with a late subscriber: no replay
    s = a.share(script((1, "a"), (2, "b"), (3, "c"), (4, "d")))
    first: list[Any] = []
    late: list[Any] = []

    async def collect(out: list[Any], delay: float) -> None:
        await anyio.sleep(delay)
        out.extend(await s.collect())

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect, first, 0)
            tg.start_soon(collect, late, 2.5)
    assert first == ["a", "b", "c", "d"]
    assert late == ["c", "d"]


async def test_error_reaches_every_subscriber_after_its_buffer() -> None:
    s = a.share(script((1, 1), (2, 2), end=at(3, raise_(Boom("up")))))
    seen: list[Any] = []

    async def sub() -> None:
        items: list[Any] = []
        try:
            async with s.stream() as run:
                async for x in run:
                    items.append(x)
        except Boom as exc:
            seen.append((items, str(exc)))

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sub)
            tg.start_soon(sub)
    assert seen == [([1, 2], "up"), ([1, 2], "up")]


async def test_one_subscriber_leaving_does_not_stop_the_others() -> None:
    src = Counted(5)
    s = a.share(src.stream())
    got: dict[str, list[Any]] = {}

    async def full() -> None:
        got["full"] = await s.collect()

    async def short() -> None:
        got["short"] = await (s | a.take(2)).collect()

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(short)  # the owner: starts the upstream, then leaves
            tg.start_soon(full)
    assert got == {"short": [0, 1], "full": [0, 1, 2, 3, 4]}
    assert (src.opened, src.closed) == (1, 1)


async def test_last_subscriber_leaving_closes_upstream_and_next_restarts() -> None:
    src = Counted(100)
    s = a.share(src.stream())
    with anyio.fail_after(100):
        assert await (s | a.take(2)).collect() == [0, 1]
        assert (src.opened, src.closed) == (1, 1)
        # rxjs share-spec "should reset on refCount 0": a new subscriber re-subscribes
        assert await (s | a.take(3)).collect() == [0, 1, 2]
    assert (src.opened, src.closed) == (2, 2)


async def test_wait_policy_makes_the_slowest_set_the_pace() -> None:
    s = a.share(a.range(10), buffer=1)
    got: dict[str, list[Any]] = {}

    async def fast() -> None:
        got["fast"] = await s.collect()

    async def slow() -> None:
        out: list[Any] = []
        async with s.stream() as items:
            async for x in items:
                out.append(x)
                await anyio.sleep(1)
        got["slow"] = out

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            tg.start_soon(fast)
    assert got == {"fast": list(range(10)), "slow": list(range(10))}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("drop_newest", [0, 1, 2, 3]), ("drop_oldest", [0, 1, 8, 9])],
)
async def test_drop_policies_count_what_the_slow_subscriber_lost(
    policy: Any, expected: list[int]
) -> None:
    # The slow subscriber holds one item in its loop body and one in the hand-off to it,
    # then 2 in its buffer; the rest of the burst meets a full buffer.
    upstream = script(*[(1 + i * 0.1, i) for i in range(10)])
    s = a.share(upstream, buffer=2, on_slow=policy)
    got: dict[str, Any] = {}

    async def fast() -> None:
        got["fast"] = await s.collect()

    async def slow() -> None:
        out: list[Any] = []
        async with s.stream() as items:
            async for x in items:
                out.append(x)
                await anyio.sleep(10)
            got["stats"] = items.stats()["share"].dropped
        got["slow"] = out

    with anyio.fail_after(200):
        async with anyio.create_task_group() as tg:
            tg.start_soon(fast)
            tg.start_soon(slow)
    assert got["fast"] == list(range(10))
    assert got["slow"] == expected
    assert got["stats"] == {"slow consumer": 10 - len(expected)}


async def test_broadcast_waits_for_all_subscribers() -> None:
    src = Counted(3, gap=0)
    b1, b2, b3 = a.broadcast(src.stream(), 3)
    got: dict[int, list[Any]] = {}

    async def sub(i: int, s: a.Stream[Any], delay: float) -> None:
        await anyio.sleep(delay)
        got[i] = await s.collect()

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sub, 1, b1, 0)
            tg.start_soon(sub, 2, b2, 5)
            tg.start_soon(sub, 3, b3, 2)
    assert got == {1: [0, 1, 2], 2: [0, 1, 2], 3: [0, 1, 2]}
    assert src.opened == 1


async def test_graceful_stop_of_one_subscriber_detaches_it() -> None:
    s = a.share(script((1, "a"), (2, "b"), (3, "c"), end=hang()))
    got: dict[str, list[Any]] = {}

    async def stopper() -> None:
        out: list[Any] = []
        async with s.stream() as run:
            async for x in run:
                out.append(x)
                if x == "a":
                    run.stop()
        got["stopped"] = out

    async def other() -> None:
        out: list[Any] = []
        async with s.stream() as run:
            async for x in run:
                out.append(x)
                if x == "c":
                    break
        got["other"] = out

    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            tg.start_soon(other)
            tg.start_soon(stopper)
    assert got == {"stopped": ["a"], "other": ["a", "b", "c"]}


def test_bad_arguments_name_the_operator() -> None:
    with pytest.raises(TypeError, match=r"share\(\): argument 1 must be a Stream"):
        a.share([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"share\(\): buffer must be >= 1, got 0"):
        a.share(a.range(3), buffer=0)
    with pytest.raises(ValueError, match=r"share\(\): on_slow must be one of"):
        a.share(a.range(3), on_slow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"broadcast\(\): n must be >= 1, got 0"):
        a.broadcast(a.range(3), 0)
    with pytest.raises(TypeError, match=r"broadcast\(\): n must be an int, got str"):
        a.broadcast(a.range(3), "2")  # type: ignore[arg-type]


async def test_a_subscriber_arriving_while_the_last_run_closes_starts_a_fresh_one() -> None:
    # Opened: the upstream closes in the block's task group, asynchronously; a subscriber
    # that comes right after the last one left must not attach to the closing run.
    src = Counted(100)
    s = a.share(src.stream())
    with anyio.fail_after(100):
        async with s:
            assert await (s | a.take(2)).collect() == [0, 1]
            assert await (s | a.take(3)).collect() == [0, 1, 2]
    assert src.opened == 2
    assert src.closed == 2
