"""map_async's workers: who runs a call, who is woken, and what a resumed call sees.

The workers run the first step of a call themselves to learn whether it suspends
(``_map_async._resume``); these tests pin that a call resumed that way behaves exactly as
an awaited one (same task, cancel scopes, values, exceptions, cancellation), and that a
call completing at once wakes no other worker when items arrive one by one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest

from anystream import from_iterable, map_async
from anystream.ops import _map_async

pytestmark = pytest.mark.anyio


async def _trickle(n: int, gap: float = 0.01) -> AsyncIterator[int]:
    """``n`` items, one at a time: every item arrives while the stage is idle."""
    for i in range(n):
        yield i
        await anyio.sleep(gap)


async def _bursts(bursts: int, size: int, gap: float = 0.01) -> AsyncIterator[int]:
    """``bursts`` bursts of ``size`` items, the stage idle between them."""
    for b in range(bursts):
        for i in range(size):
            yield b * size + i
        await anyio.sleep(gap)


def _count_wakes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    woken = [0]
    wake_one = _map_async._Intake.wake_one

    def counting(self: _map_async._Intake) -> None:
        if self.woken is None and self.idle:
            woken[0] += 1
        wake_one(self)

    monkeypatch.setattr(_map_async._Intake, "wake_one", counting)
    return woken


@pytest.mark.parametrize("ordered", [True, False])
async def test_calls_that_complete_at_once_wake_no_other_worker(
    ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken = _count_wakes(monkeypatch)

    async def at_once(x: int) -> int:
        return x * 10

    with anyio.fail_after(60):
        s = from_iterable(_trickle(20)) | map_async(at_once, concurrency=4, ordered=ordered)
        out = await s.collect()
    assert sorted(out) == [x * 10 for x in range(20)]
    assert woken[0] == 0


@pytest.mark.parametrize("ordered", [True, False])
async def test_small_bursts_of_calls_that_complete_at_once_wake_no_other_worker(
    ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A paced source at moderate load: a few items per timer tick, fewer than
    # WAKE_AHEAD behind the first, so no worker is woken "in case" before a call.
    woken = _count_wakes(monkeypatch)

    async def at_once(x: int) -> int:
        return x * 10

    size = _map_async.WAKE_AHEAD // 2
    with anyio.fail_after(60):
        s = from_iterable(_bursts(10, size)) | map_async(at_once, concurrency=4, ordered=ordered)
        out = await s.collect()
    assert sorted(out) == [x * 10 for x in range(10 * size)]
    assert woken[0] == 0


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_large_burst_wakes_at_most_one_worker_in_case(
    ordered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken = _count_wakes(monkeypatch)

    async def at_once(x: int) -> int:
        return x * 10

    size = 2 * _map_async.WAKE_AHEAD
    with anyio.fail_after(60):
        s = from_iterable(_bursts(6, size)) | map_async(at_once, concurrency=4, ordered=ordered)
        out = await s.collect()
    assert sorted(out) == [x * 10 for x in range(6 * size)]
    assert 1 <= woken[0] <= 6


@pytest.mark.parametrize("ordered", [True, False])
async def test_calls_that_suspend_in_small_bursts_still_run_concurrently(ordered: bool) -> None:
    running = peak = 0

    async def slow(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.5)
        running -= 1
        return x

    with anyio.fail_after(60):
        s = from_iterable(_bursts(3, 4, gap=2.0)) | map_async(slow, concurrency=4, ordered=ordered)
        out = await s.collect()
    assert (out if ordered else sorted(out)) == list(range(12))
    assert peak == 4


@pytest.mark.parametrize("ordered", [True, False])
async def test_calls_that_suspend_still_run_concurrently_when_items_trickle(ordered: bool) -> None:
    running = peak = 0

    async def slow(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(1.0)  # far longer than the gap between items
        running -= 1
        return x

    with anyio.fail_after(60):
        s = from_iterable(_trickle(12)) | map_async(slow, concurrency=4, ordered=ordered)
        out = await s.collect()
    assert (out if ordered else sorted(out)) == list(range(12))
    assert peak == 4


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("burst", [1, 3, 50])
async def test_mixed_suspending_and_immediate_calls_keep_every_result(
    ordered: bool, burst: int
) -> None:
    rng = random.Random(burst)
    suspends = {i: rng.random() < 0.5 for i in range(200)}

    async def source() -> AsyncIterator[int]:
        for i in range(200):
            yield i
            if i % burst == 0:
                await anyio.sleep(0.001)

    async def mixed(x: int) -> int:
        if suspends[x]:
            await anyio.sleep(0.003 * (x % 4))
        return x

    with anyio.fail_after(60):
        s = from_iterable(source()) | map_async(mixed, concurrency=3, ordered=ordered)
        out = await s.collect()
    assert (out if ordered else sorted(out)) == list(range(200))


async def test_a_resumed_call_stays_in_its_task_and_keeps_its_cancel_scope() -> None:
    seen: list[tuple[int, int]] = []

    async def scoped(x: int) -> int:
        before = anyio.get_current_task().id
        with anyio.fail_after(30):  # entered in the first step, left after resuming
            await anyio.sleep(0.01)
            await anyio.lowlevel.checkpoint()
        seen.append((before, anyio.get_current_task().id))
        return x

    with anyio.fail_after(60):
        out = await (from_iterable(_trickle(6)) | map_async(scoped, concurrency=2)).collect()
    assert out == list(range(6))
    assert len(seen) == 6
    assert all(before == after for before, after in seen)


@pytest.mark.parametrize("suspend_first", [True, False])
async def test_an_error_after_or_before_suspending_is_the_callers_with_a_note(
    suspend_first: bool,
) -> None:
    async def fails(x: int) -> int:
        if suspend_first:
            await anyio.sleep(0.01)
        if x == 3:
            raise KeyError(x)
        return x

    with anyio.fail_after(60), pytest.raises(KeyError) as info:
        await (from_iterable(_trickle(6)) | map_async(fails, concurrency=2)).collect()
    assert any("map_async" in note for note in info.value.__notes__)


async def test_cancelling_the_run_cancels_a_resumed_call_and_runs_its_cleanup() -> None:
    started = cleaned = 0

    async def hangs(x: int) -> int:
        nonlocal started, cleaned
        started += 1
        try:
            await anyio.sleep_forever()
        finally:
            cleaned += 1
        return x  # pragma: no cover - never reached

    with anyio.fail_after(60):
        with anyio.move_on_after(5):
            await (from_iterable(_trickle(3)) | map_async(hangs, concurrency=3)).collect()
    assert started == 3
    assert cleaned == 3


async def test_a_cancellation_reaches_a_suspended_call_as_its_exception() -> None:
    # The loop's answer (here a cancellation) goes into the resumed call, which sees the
    # backend's cancellation exception where it awaits, as with a plain await.
    results: list[int] = []

    async def stubborn(x: int) -> int:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            results.append(x)
            raise
        return x  # pragma: no cover

    with anyio.fail_after(60):
        with anyio.move_on_after(1):
            await (from_iterable(_trickle(2)) | map_async(stubborn, concurrency=2)).collect()
    assert sorted(results) == [0, 1]


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("suspending", [True, False])
async def test_a_slow_consumer_gets_every_result_and_the_bound_holds(
    ordered: bool, suspending: bool
) -> None:
    # The output fills up: one worker waits for room, the others leave their results to
    # it (unordered) or wait as idle workers (ordered) instead of piling up wake-ups.
    pulled = 0

    async def source() -> AsyncIterator[int]:
        nonlocal pulled
        for i in range(300):
            pulled += 1
            yield i

    async def fn(x: int) -> int:
        if suspending and x % 3 == 0:
            await anyio.sleep(0.001)
        return x

    s = from_iterable(source()) | map_async(fn, concurrency=4, ordered=ordered)
    bound = s.explain().memory_bound
    got: list[int] = []
    worst = 0
    with anyio.fail_after(60):
        async with s.stream() as items:
            async for x in items:
                got.append(x)
                worst = max(worst, pulled - len(got))
                if len(got) % 10 == 0:
                    await anyio.sleep(0.01)
    assert (got if ordered else sorted(got)) == list(range(300))
    assert worst <= bound
