"""The runner: task ownership, early exit, errors, cancellation, and the memory bound."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import (
    Stream,
    buffered,
    from_iterable,
    map,
    map_async,
    parse,
    take,
    tumbling_window,
    where,
)
from anystream._core.errors import concurrent_failures
from anystream.ops._map_async import HANDOFF_MIN

pytestmark = pytest.mark.anyio


class Tracked:
    """An infinite (or n-item) async generator source that records its life cycle."""

    def __init__(self, n: int | None = None, delay: float = 0.0) -> None:
        self.n = n
        self.delay = delay
        self.pulled = 0
        self.started = False
        self.closed = False

    async def _gen(self) -> AsyncIterator[int]:
        self.started = True
        try:
            i = 0
            while self.n is None or i < self.n:
                if self.delay:
                    await anyio.sleep(self.delay)
                self.pulled += 1
                yield i
                i += 1
        finally:
            self.closed = True

    def stream(self) -> Stream[int]:
        return from_iterable(self._gen())


async def _slow(x: int) -> int:
    await anyio.sleep(0.001)
    return x


# Pipelines covering every runner shape: inline, boundaries, staged tasks, generator steps.
SHAPES: dict[str, Callable[[Stream[int]], Stream[Any]]] = {
    "inline": lambda s: s | map(lambda x: x + 1) | where(lambda x: x >= 0),
    "buffered": lambda s: s | map(lambda x: x + 1) | buffered(4) | map(lambda x: x),
    "rendezvous": lambda s: s | buffered(0) | buffered(0),
    "map_async": lambda s: s | map_async(_slow, concurrency=3),
    "map_async_unordered": lambda s: s | map_async(_slow, concurrency=3, ordered=False),
    "window": lambda s: s | tumbling_window(0.5) | map(len),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_break_closes_every_upstream_generator_before_the_block_exits(shape: str) -> None:
    src = Tracked(delay=0.01)
    async with SHAPES[shape](src.stream()).stream() as items:
        async for _ in items:
            break
    assert src.started
    assert src.closed


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_exception_in_the_consumer_body_comes_back_as_itself(shape: str) -> None:
    src = Tracked(delay=0.01)
    with pytest.raises(KeyError, match="body") as info:
        async with SHAPES[shape](src.stream()).stream() as items:
            async for _ in items:
                raise KeyError("body")
    assert not isinstance(info.value, BaseExceptionGroup)
    assert src.closed


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_cancellation_from_outside_closes_everything(shape: str) -> None:
    src = Tracked(delay=0.01)
    with anyio.move_on_after(1) as scope:
        await SHAPES[shape](src.stream()).collect()
    assert scope.cancelled_caught
    assert src.closed


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_cancellation_before_the_first_item(shape: str) -> None:
    src = Tracked(delay=10)
    with anyio.move_on_after(1) as scope:
        async with SHAPES[shape](src.stream()).stream() as items:
            async for _ in items:
                pytest.fail("no item expected")
    assert scope.cancelled_caught
    # Closed whether or not the generator got to start.
    assert src.closed or not src.started


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_end_of_input_drains_everything(shape: str) -> None:
    src = Tracked(n=40, delay=0.001)
    out = await SHAPES[shape](src.stream()).collect()
    assert src.closed
    if shape == "window":
        assert sum(out) == 40
    elif shape == "map_async_unordered":
        assert sorted(out) == list(range(40))
    else:
        expected = (
            [x + 1 for x in range(40)] if shape in ("inline", "buffered") else list(range(40))
        )
        assert out == expected


@pytest.mark.parametrize("position", ["fused", "after_buffer", "map_async", "source"])
async def test_user_error_reaches_the_caller_as_itself_with_a_note(position: str) -> None:
    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("boom")
        return x

    async def aboom(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return boom(x)

    async def bad_source() -> AsyncIterator[int]:
        yield 1
        raise ValueError("boom")

    src = Tracked(delay=0.001)
    if position == "fused":
        s = src.stream() | map(boom)
        note = "map("
    elif position == "after_buffer":
        s = src.stream() | buffered(2) | map(boom) | buffered(2)
        note = "map("
    elif position == "map_async":
        s = src.stream() | map_async(aboom, concurrency=4)
        note = "map_async("
    else:
        s = from_iterable(bad_source()) | buffered(1)
        note = ""
    with pytest.raises(ValueError, match="boom") as info:
        await s.collect()
    assert type(info.value) is ValueError
    if note:
        assert any(note in n for n in info.value.__notes__)
        assert len(info.value.__notes__) == 1, "notes are added once, where user code is called"
        assert src.closed


async def test_error_keeps_its_own_context() -> None:
    def fails(x: int) -> int:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise ValueError("outer") from exc

    with pytest.raises(ValueError, match="outer") as info:
        await (from_iterable([1]) | buffered(1) | map(fails)).collect()
    assert isinstance(info.value.__cause__, KeyError)


async def test_two_failures_of_one_stage_are_the_first_with_the_second_attached() -> None:
    # The rule of errors.py: the first failure of a stage is raised as itself, the
    # stage's concurrent failures are attached to it (this test asserted a group before
    # the rule; both failures are still there to see).
    async def fail(x: int) -> int:
        if x == 1:
            await anyio.sleep(0.1)
            raise ValueError("first")
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            raise RuntimeError("second, while being cancelled") from None
        return x

    with pytest.raises(ValueError, match="first") as info:
        await (from_iterable([1, 2]) | map_async(fail, concurrency=2, ordered=False)).collect()
    leaves = [info.value, *concurrent_failures(info.value)]
    assert sorted(type(e).__name__ for e in leaves) == ["RuntimeError", "ValueError"]


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def test_nothing_keeps_running_after_an_error() -> None:
    src = Tracked(delay=0.01)
    with pytest.raises(ZeroDivisionError):
        await (src.stream() | buffered(3) | map(lambda x: 1 // (x - 5))).collect()
    pulled = src.pulled
    await anyio.sleep(1)
    assert src.pulled == pulled
    assert src.closed


async def test_take_closes_the_upstream_at_once_not_when_the_run_ends() -> None:
    for shape in (lambda s: s | take(3), lambda s: s | buffered(2) | take(3)):
        src = Tracked(delay=0.01)
        async with shape(src.stream()).stream() as items:
            assert [x async for x in items] == [0, 1, 2]
            await anyio.sleep(0.1)  # upstream tasks see the closed stream and finish
            assert src.closed  # ...before the async with block ends
            assert src.pulled <= 3 + 2 + 2  # the items in hand and in the buffer


async def test_take_zero_never_starts_the_source() -> None:
    src = Tracked()
    assert await (src.stream() | take(0)).collect() == []
    assert not src.started


async def test_downstream_leaving_is_not_an_error() -> None:
    # map_async workers blocked in send when the consumer leaves: no BrokenResourceError.
    src = Tracked(delay=0.001)
    async with (src.stream() | map_async(_slow, concurrency=4) | buffered(0)).stream() as items:
        async for x in items:
            if x == 10:
                break
    assert src.closed


@pytest.mark.parametrize(
    ("stages", "bound"),
    [
        (lambda s: s | buffered(5), 5 + 2),
        (lambda s: s | buffered(10) | map(lambda x: x) | buffered(3), 10 + 3 + 3),
        # Ordered map_async holds 2c, plus its two implicit hand-offs of max(c,
        # HANDOFF_MIN) each.
        (lambda s: s | map_async(_slow, concurrency=4), 2 * 4 + 2 * HANDOFF_MIN + 2),
        (lambda s: s | map_async(_slow, concurrency=4, ordered=False), 4 + 2 * HANDOFF_MIN + 2),
        (lambda s: s | buffered(0), 0 + 2),
    ],
    ids=["buffered5", "two_buffers", "map_async_ordered", "map_async_unordered", "rendezvous"],
)
async def test_items_in_flight_never_exceed_the_documented_bound(
    stages: Callable[[Stream[int]], Stream[int]], bound: int
) -> None:
    """An infinite source and a slow consumer: pulled - delivered stays within the bound.

    The bound is: buffer sizes + one per stage (each stage holds one item in hand) +
    the concurrency of concurrent stages (2 * c for ordered map_async) + the implicit
    hand-offs around a concurrent stage (max(c, HANDOFF_MIN) on each side).
    """
    src = Tracked(n=10_000)
    worst = 0
    delivered = 0
    async with stages(src.stream()).stream() as items:
        async for _ in items:
            delivered += 1
            await anyio.sleep(0.05)  # a slow consumer
            worst = max(worst, src.pulled - delivered)
            if delivered == 60:
                break
    assert 0 < worst <= bound


async def test_parse_drops_are_visible_in_stats_during_and_after_the_run() -> None:
    s = from_iterable(["1", "x", "2", "y", "3"]) | parse(int) | buffered(1)
    async with s.stream() as run:
        seen = [x async for x in run]
        assert run.stats()["parse"].dropped == {"malformed": 2}
    assert seen == [1, 2, 3]
    assert s.stats()["parse"].dropped == {"malformed": 2}
    assert s.stats().dropped == {"malformed": 2}


async def test_stats_balance_for_fused_and_staged_operators() -> None:
    lines = [str(n) if n % 4 else "bad" for n in range(100)]
    s = (
        from_iterable(lines)
        | parse(int)
        | where(lambda n: n % 2 == 0)
        | buffered(3)
        | map(lambda n: n * 2)
    )
    out = await s.collect()
    stats = s.stats()
    source, parsed, kept, buf, mapped = (stats[i] for i in range(5))
    assert source.emitted == 100
    assert parsed.received == 100
    assert parsed.dropped == {"malformed": 25}
    assert parsed.emitted == 75
    assert kept.received == 75
    assert kept.emitted + kept.dropped_total == 75
    assert buf.received == kept.emitted == buf.emitted
    assert mapped.emitted == len(out)
    for op in stats.operators:
        assert op.snapshot().in_flight == 0, op


async def test_a_source_whose_finally_raises_reports_that_error() -> None:
    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            raise RuntimeError("cleanup failed")

    with pytest.raises(RuntimeError, match="cleanup failed"):
        async with (from_iterable(gen()) | buffered(1)).stream() as items:
            async for _ in items:
                break
