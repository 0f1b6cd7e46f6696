"""share / broadcast against RxJS ``share-spec.ts`` and Kotlin's ``shareIn`` /
``SharedFlow`` documentation, in our own words; frames of 1 s on the virtual clock, both
backends. Each subscriber is a run of the shared stream started at a given frame; its
events are drawn on the absolute timeline (frame 0 = the start of the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream import broadcast, share, take
from anystream._core.source import FactorySource

from ._marble import Boom, expect, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _draw(events: list[tuple[float, str]]) -> str:
    frames: dict[int, list[str]] = {}
    for t, mark in events:
        frames.setdefault(round(t), []).append(mark)
    if not frames:
        return ""
    out = []
    for i in range(max(frames) + 1):
        marks = frames.get(i, [])
        out.append("-" if not marks else marks[0] if len(marks) == 1 else f"({''.join(marks)})")
    return "".join(out)


async def subscribe(streams: list[tuple[a.Stream[Any], float]], until: float = 60) -> list[str]:
    """Run each stream from its start frame; return what each one saw, drawn."""
    t0 = anyio.current_time()
    seen: list[list[tuple[float, str]]] = [[] for _ in streams]

    async def one(i: int, stream: a.Stream[Any], start: float) -> None:
        await anyio.sleep_until(t0 + start)
        out = seen[i]
        try:
            async with stream.stream() as run:
                async for x in run:
                    out.append((anyio.current_time() - t0, str(x)))
            out.append((anyio.current_time() - t0, "|"))
        except Boom:
            out.append((anyio.current_time() - t0, "#"))

    with anyio.move_on_after(until):
        async with anyio.create_task_group() as tg:
            for i, (stream, start) in enumerate(streams):
                tg.start_soon(one, i, stream, start)
    return [_draw(events) for events in seen]


class Opened:
    """A timed source that counts its runs: ``-0-1-2-...`` every 2 frames, ``n`` items."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.runs = 0
        self.closed = 0

    def stream(self) -> a.Stream[int]:
        async def gen() -> AsyncIterator[int]:
            self.runs += 1
            try:
                for i in range(self.n):
                    await anyio.sleep(2)
                    yield i
            finally:
                self.closed += 1

        return a.Stream(FactorySource(gen, "opened"))


async def test_rxjs_should_not_change_the_output_of_a_successful_stream() -> None:
    # share-spec "should not change the output of the observable when successful"
    s = share(src("--1-2---3-4--5-|"))
    assert await subscribe([(s, 0)]) == [expect("--1-2---3-4--5-|")]


async def test_rxjs_should_not_change_the_output_when_error() -> None:
    s = share(src("--a--b--#"))
    assert await subscribe([(s, 0)]) == [expect("--a--b--#")]


async def test_rxjs_should_not_change_the_output_when_empty_or_never() -> None:
    assert await subscribe([(share(src("|")), 0)]) == ["|"]
    assert await subscribe([(share(src("-")), 0)], until=20) == [""]


async def test_rxjs_should_share_a_single_subscription() -> None:
    # share-spec "should share a single subscription": two subscribers, one upstream run
    source = Opened(3)
    s = share(source.stream())
    got = await subscribe([(s, 0), (s, 0)])
    assert got == ["--0-1-(2|)", "--0-1-(2|)"]
    assert (source.runs, source.closed) == (1, 1)


async def test_rxjs_late_subscriber_sees_only_later_items() -> None:
    # share-spec "should share the same values to multiple observers": a subscriber that
    # joins late gets the values from then on, no replay (Kotlin SharedFlow, replay = 0)
    s = share(src("-1-2-3-4-5-|"))
    got = await subscribe([(s, 0), (s, 4)])
    assert got == [expect("-1-2-3-4-5-|"), expect("-----3-4-5-|")]


async def test_rxjs_error_reaches_every_subscriber() -> None:
    # share-spec "should share an error from the source to multiple observers"
    s = share(src("-1-2-#"))
    got = await subscribe([(s, 0), (s, 2)])
    assert got == [expect("-1-2-#"), expect("---2-#")]


async def test_rxjs_completion_reaches_every_subscriber() -> None:
    s = share(src("-1--|"))
    assert await subscribe([(s, 0), (s, 0), (s, 2)]) == ["-1--|", "-1--|", "----|"]


async def test_rxjs_resubscribes_after_completion() -> None:
    # share-spec "should be retryable / repeatable": after the shared run completed, a new
    # subscriber starts a fresh run (resetOnComplete)
    source = Opened(2)
    s = share(source.stream())
    got = await subscribe([(s, 0), (s, 10)])
    assert got == ["--0-(1|)", "------------0-(1|)"]
    assert source.runs == 2


async def test_rxjs_resubscribes_after_an_error() -> None:
    # resetOnError: a subscriber after the failure runs the source again
    runs: list[int] = []

    async def failing() -> AsyncIterator[str]:
        runs.append(1)
        await anyio.sleep(1)
        yield "a"
        raise Boom("x")

    s = share(a.Stream(FactorySource(failing, "failing")))
    got = await subscribe([(s, 0), (s, 5)])
    assert got == ["-(a#)", "------(a#)"]
    assert len(runs) == 2


async def test_rxjs_unsubscribes_from_the_source_when_the_last_subscriber_leaves() -> None:
    # share-spec "should unsubscribe from the source when the reference count drops to 0"
    # (Kotlin SharingStarted.WhileSubscribed() with no stop timeout)
    source = Opened(100)
    s = share(source.stream()) | take(2)
    got = await subscribe([(s, 0), (s, 1)])
    assert got == ["--0-(1|)", "--0-(1|)"]
    assert (source.runs, source.closed) == (1, 1)


async def test_rxjs_one_subscriber_leaving_keeps_the_others_going() -> None:
    # share-spec "should not unsubscribe from the source while one subscriber remains";
    # opened (async with), the upstream lives in the block, so the one leaving returns at once
    source = Opened(4)
    s = share(source.stream())
    async with s:
        got = await subscribe([(s | take(1), 0), (s, 0)])
    assert got == ["--(0|)", "--0-1-2-(3|)"]
    assert source.runs == 1


async def test_not_opened_the_subscriber_that_started_the_upstream_waits_for_the_others() -> None:
    # DELIBERATE DIFFERENCE (structured concurrency, share's docstring): without
    # ``async with``, the upstream lives in the first subscription's task, so that one
    # returns only once the last subscriber has left; the items are the same.
    source = Opened(4)
    s = share(source.stream())
    got = await subscribe([(s | take(1), 0), (s, 0)])
    assert got == ["--0-----|", "--0-1-2-(3|)"]
    assert source.runs == 1


async def test_leaving_the_open_block_closes_the_upstream_and_ends_subscribers() -> None:
    # Kotlin: cancelling the scope of shareIn stops the sharing
    source = Opened(100)
    s = share(source.stream())
    seen: list[int] = []

    async def consume() -> None:
        async with s.stream() as items:
            async for x in items:
                seen.append(x)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg, s:
            tg.start_soon(consume)
            await anyio.sleep(5)
    assert seen == [0, 1]
    assert (source.runs, source.closed) == (1, 1)


async def test_opening_twice_is_refused() -> None:
    s = share(a.range(3))
    async with s:
        with pytest.raises(RuntimeError, match=r"share\(\): this shared stream is already open"):
            async with s:
                pass


async def test_kotlin_shared_flow_slow_collector_suspends_the_emitter() -> None:
    # SharedFlow docs: with BufferOverflow.SUSPEND a slow subscriber makes the emitter wait,
    # so the fast subscriber is paced too (on_slow="wait", buffer of 1)
    s = share(a.range(6), buffer=1)
    times: dict[str, list[float]] = {"fast": [], "slow": []}

    async def run(key: str, pause: float) -> None:
        t0 = anyio.current_time()
        async with s.stream() as items:
            async for _ in items:
                times[key].append(anyio.current_time() - t0)
                await anyio.sleep(pause)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "slow", 4)
            tg.start_soon(run, "fast", 0)
    assert len(times["fast"]) == len(times["slow"]) == 6
    # the slow one holds an item in its loop, one in its hand-off and one in its buffer;
    # the fourth waits for room, and the fast one with it
    assert times["fast"][:3] == [0, 0, 0]
    assert times["fast"][3] >= 4


async def test_kotlin_drop_oldest_keeps_the_newest_for_a_slow_collector() -> None:
    # SharedFlow docs: BufferOverflow.DROP_OLDEST never suspends the emitter; a slow
    # collector sees the newest values (anystream counts the ones it lost)
    s = share(src("-a-b-c-d-e-f-g-h|"), buffer=1, on_slow="drop_oldest")
    got: dict[str, Any] = {}

    async def slow() -> None:
        out: list[str] = []
        async with s.stream() as items:
            async for x in items:
                out.append(x)
                await anyio.sleep(5)
            got["dropped"] = items.stats()["share"].dropped
        got["slow"] = out

    async def fast() -> None:
        got["fast"] = await s.collect()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            tg.start_soon(fast)
    assert got["fast"] == list("abcdefgh")
    assert got["slow"][-1] == "h"
    assert len(got["slow"]) + got["dropped"]["slow consumer"] == 8


async def test_broadcast_every_consumer_sees_every_item_from_the_first() -> None:
    # Kotlin shareIn(scope, SharingStarted.Eagerly) started after the collectors, RxJS
    # connectable + connect after subscribing: no consumer misses the first items
    b1, b2 = broadcast(src("-a-b-|"), 2)
    got = await subscribe([(b1, 0), (b2, 3)])
    assert got == [expect("----a-b-|"), expect("----a-b-|")]
