"""Time family: debounce, throttle, sample, timeout, delay, rate_limit.

Every test runs on asyncio and trio on the virtual clock, so emission times are asserted
exactly: a script emits items at given times, a recorder notes ``(time, item)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from anystream import (
    Operator,
    debounce,
    delay,
    from_iterable,
    rate_limit,
    sample,
    take,
    throttle,
    timeout,
)
from anystream.testing import ScriptedSource, at, end, hang, raise_, record, scripted

pytestmark = pytest.mark.anyio


async def test_debounce_emits_after_quiet_period_and_pending_at_end() -> None:
    s = scripted(at(1, "a"), at(2, "b"), at(8, "c"), at(11, end())) | debounce(3)
    rec = await record(s)
    assert rec.events == [(5, "b"), (11, "c")]
    assert rec.end_time == 11
    assert s.stats()["debounce"].dropped == {"debounced": 1}


async def test_throttle_leading() -> None:
    script = [at(1, "a"), at(2, "b"), at(3, "c"), at(9, "d"), at(10, "e"), at(13, end())]
    s = scripted(*script) | throttle(3)
    rec = await record(s)
    assert rec.events == [(1, "a"), (9, "d")]
    assert s.stats()["throttle"].dropped == {"throttled": 3}


async def test_throttle_trailing_only() -> None:
    script = [at(1, "a"), at(2, "b"), at(3, "c"), at(9, "d"), at(10, "e"), at(13, end())]
    s = scripted(*script) | throttle(3, leading=False, trailing=True)
    rec = await record(s)
    assert rec.events == [(4, "c"), (12, "e")]
    assert s.stats()["throttle"].dropped == {"throttled": 3}


async def test_throttle_leading_and_trailing() -> None:
    script = [at(1, "a"), at(2, "b"), at(3, "c"), at(9, "d"), at(10, "e"), at(13, end())]
    rec = await record(scripted(*script) | throttle(3, trailing=True))
    assert rec.events == [(1, "a"), (4, "c"), (9, "d"), (12, "e")]
    assert rec.end_time == 13


async def test_throttle_trailing_item_pending_at_end_waits_for_its_period() -> None:
    s = scripted(at(1, "a"), at(2, "b"), at(2.5, end())) | throttle(3, trailing=True)
    rec = await record(s)
    assert rec.events == [(1, "a"), (4, "b")]
    assert rec.end_time == 4


async def test_sample_emits_newest_per_tick_and_drops_pending_at_end() -> None:
    script = [at(1, "a"), at(4, "b"), at(5, "c"), at(11, "d"), at(11.5, end())]
    s = scripted(*script) | sample(3)
    rec = await record(s)
    assert rec.events == [(3, "a"), (6, "c")]
    assert rec.end_time == 11.5
    assert s.stats()["sample"].dropped == {"sampled": 2}


async def test_timeout_passes_items_then_raises_builtin_timeout_error() -> None:
    rec = await record(
        scripted(at(1, "a"), at(2, "b"), at(5, "c")) | timeout(2), catch=TimeoutError
    )
    assert rec.events == [(1, "a"), (2, "b")]
    assert rec.end_time == 4
    assert type(rec.error) is TimeoutError
    assert any("timeout(2)" in note for note in rec.error.__notes__)


async def test_timeout_counts_from_the_start() -> None:
    with pytest.raises(TimeoutError) as info:
        await (scripted(at(3, "a")) | timeout(2)).collect()
    assert "timeout(2)" in " ".join(info.value.__notes__)


async def test_timeout_not_reached() -> None:
    rec = await record(scripted(at(1, "a"), at(2.5, "b"), at(4, end())) | timeout(2))
    assert rec.events == [(1, "a"), (2.5, "b")]


async def test_delay_shifts_each_item_and_keeps_order() -> None:
    rec = await record(scripted(at(1, "a"), at(3, "b"), at(7, "c"), at(8, end())) | delay(3))
    assert rec.events == [(4, "a"), (6, "b"), (10, "c")]
    assert rec.end_time == 10


async def test_delay_is_bounded_by_max_pending() -> None:
    # Three items at once, room for one: the operator stops reading until the first is due.
    rec = await record(scripted(at(0, "a"), "b", "c") | delay(3, max_pending=1))
    assert rec.events == [(3, "a"), (6, "b"), (9, "c")]


async def test_rate_limit_blocks_and_never_drops() -> None:
    produced: list[float] = []

    async def source() -> Any:
        t0 = anyio.current_time()
        for i in range(5):
            produced.append(anyio.current_time() - t0)
            yield i

    s = from_iterable(source()) | rate_limit(2, 4)
    rec = await record(s)
    assert rec.events == [(0, 0), (0, 1), (4, 2), (4, 3), (8, 4)]
    assert s.stats()["rate_limit"].dropped == {}
    # Backpressure: the source was not drained ahead of the limit.
    assert produced[-1] >= 4


async def test_rate_limit_window_is_sliding() -> None:
    script = [at(0, "a"), at(3, "b"), at(3, "c"), at(5, "d")]
    rec = await record(scripted(*script) | rate_limit(2, 4))
    assert rec.events == [(0, "a"), (3, "b"), (4, "c"), (7, "d")]


OPS: dict[str, Callable[[], Operator[Any, Any]]] = {
    "debounce": lambda: debounce(1),
    "throttle": lambda: throttle(1),
    "sample": lambda: sample(1),
    "timeout": lambda: timeout(100),
    "delay": lambda: delay(1),
    "rate_limit": lambda: rate_limit(1, 1),
}


@pytest.mark.parametrize("make", OPS.values(), ids=OPS.keys())
async def test_early_exit_closes_upstream(make: Callable[[], Operator[Any, Any]]) -> None:
    source = ScriptedSource(at(0, "a"), at(5, "b"), at(10, "c"), hang())
    assert len(await (source.as_stream() | make() | take(1)).collect()) == 1
    assert source.opened == source.closed == 1


@pytest.mark.parametrize("make", OPS.values(), ids=OPS.keys())
async def test_break_closes_upstream(make: Callable[[], Operator[Any, Any]]) -> None:
    source = ScriptedSource(at(0, "a"), at(5, "b"), at(10, "c"), hang())
    async with (source.as_stream() | make()).stream() as items:
        async for _ in items:
            break
    assert source.closed == 1


@pytest.mark.parametrize("make", OPS.values(), ids=OPS.keys())
async def test_upstream_error_propagates_as_itself(make: Callable[[], Operator[Any, Any]]) -> None:
    error = ValueError("boom")
    source = ScriptedSource(at(0, "a"), at(0.5, raise_(error)))
    with pytest.raises(ValueError, match="boom") as info:
        await (source.as_stream() | make()).collect()
    assert info.value is error
    assert source.closed == 1


@pytest.mark.parametrize(
    ("build", "exc", "name"),
    [
        (lambda: debounce(0), ValueError, "period"),
        (lambda: debounce("1"), TypeError, "period"),
        (lambda: throttle(-1), ValueError, "period"),
        (lambda: throttle(1, leading=1), TypeError, "leading"),
        (lambda: throttle(1, trailing=None), TypeError, "trailing"),
        (lambda: throttle(1, leading=False), ValueError, "leading"),
        (lambda: sample(float("inf")), ValueError, "period"),
        (lambda: timeout(0), ValueError, "per_item"),
        (lambda: timeout(None), TypeError, "per_item"),
        (lambda: delay(-1), ValueError, "period"),
        (lambda: delay(1, max_pending=0), ValueError, "max_pending"),
        (lambda: rate_limit(0, 1), ValueError, "n"),
        (lambda: rate_limit(1.5, 1), TypeError, "n"),
        (lambda: rate_limit(1, 0), ValueError, "per"),
    ],
)
def test_bad_arguments_name_the_argument(
    build: Callable[[], object], exc: type[Exception], name: str
) -> None:
    with pytest.raises(exc, match=name):
        build()


async def test_delay_zero_passes_through() -> None:
    assert await (from_iterable([1, 2, 3]) | delay(0)).collect() == [1, 2, 3]
