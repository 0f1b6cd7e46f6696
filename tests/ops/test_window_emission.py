"""Windows closed together leave together: many keys, one watermark, one batch.

An event-time window stage has room for ``EMIT_HANDOFF`` windows after it and appends the
windows a watermark closes while there is room; these tests pin that nothing is lost,
reordered or miscounted on the way, whatever the consumer's pace.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator

import anyio
import pytest

from anystream import Stream, Window, from_iterable, tumbling_window
from anystream.ops._window.drivers import EMIT_HANDOFF

pytestmark = pytest.mark.anyio

Event = tuple[float, int]


def _events(n: int, keys: int, per_second: int = 100) -> list[Event]:
    return [(i / per_second, (i * 7) % keys) for i in range(n)]


def _expected(events: list[Event], size: float) -> list[tuple[float, int, int]]:
    """Per window (in time order) and key (in order of first appearance): the count."""
    windows: dict[float, dict[int, int]] = {}
    for t, key in events:
        row = windows.setdefault(t - t % size, {})
        row[key] = row.get(key, 0) + 1
    return [(start, k, n) for start, row in windows.items() for k, n in row.items()]


def _count(acc: int, _event: Event) -> int:
    return acc + 1


def _keyed(events: list[Event], size: float) -> Stream[Window[Event]]:
    return from_iterable(events) | tumbling_window(
        size, key=operator.itemgetter(1), time=operator.itemgetter(0), aggregate=(int, _count)
    )


@pytest.mark.parametrize("keys", [1, 7, 3 * EMIT_HANDOFF + 5])
async def test_every_window_a_watermark_closes_arrives_in_order(keys: int) -> None:
    events = _events(2_000, keys)
    s = _keyed(events, 5.0)
    with anyio.fail_after(60):
        out = [(w.start, w.key, w.value) for w in await s.collect()]
    assert out == _expected(events, 5.0)
    stats = s.stats()
    assert stats["tumbling_window"].emitted == len(out)


async def test_a_slow_consumer_gets_every_window_of_a_large_batch() -> None:
    keys = 4 * EMIT_HANDOFF + 3
    events = _events(3 * keys, keys, per_second=keys)  # one window per second, every key
    s = _keyed(events, 1.0)
    got: list[tuple[float, int, int]] = []
    with anyio.fail_after(60):
        async with s.stream() as items:
            async for w in items:
                got.append((w.start, w.key, w.value))
                if len(got) % 17 == 0:
                    await anyio.sleep(0.01)  # the hand-off fills and the stage waits
    assert got == _expected(events, 1.0)


async def test_the_batch_room_is_in_the_plan_and_its_memory_bound() -> None:
    s = _keyed(_events(10, 3), 1.0)
    text = str(s.explain())
    assert f"hand-off {EMIT_HANDOFF}, block" in text


async def test_late_events_of_a_keyed_window_are_counted_not_emitted() -> None:
    async def source() -> AsyncIterator[Event]:
        for event in [(0.0, 1), (1.0, 2), (12.0, 1), (3.0, 2), (13.0, 2), (25.0, 1)]:
            yield event

    s = from_iterable(source()) | tumbling_window(
        10.0, key=operator.itemgetter(1), time=operator.itemgetter(0), aggregate=(int, _count)
    )
    with anyio.fail_after(60):
        out = [(w.start, w.key, w.value) for w in await s.collect()]
    assert out == [(0.0, 1, 1), (0.0, 2, 1), (10.0, 1, 1), (10.0, 2, 1), (20.0, 1, 1)]
    assert sum(s.stats()["tumbling_window"].dropped.values()) == 1
