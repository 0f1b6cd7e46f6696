"""Acknowledgements: ack exactly what was fully handled, nack what an abort left in flight."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import (
    Acked,
    DeadLetters,
    Stream,
    buffered,
    from_acked,
    map,
    map_async,
    operator,
    parse,
    take,
    tumbling_window,
    where,
)
from anystream._core.source import TaskSource

pytestmark = pytest.mark.anyio


class Ledger:
    """A replayable source that records which ids were acked and nacked."""

    def __init__(self, values: list[Any], delay: float = 0.001) -> None:
        self.values = values
        self.delay = delay
        self.pulled: list[int] = []
        self.acked: list[int] = []
        self.nacked: list[int] = []

    async def _items(self) -> AsyncIterator[Acked[Any]]:
        for index, value in enumerate(self.values):
            await anyio.sleep(self.delay)
            self.pulled.append(index)
            yield Acked(
                value,
                ack=lambda index=index: self.acked.append(index),
                nack=lambda reason, index=index: self.nacked.append(index),
            )

    def stream(self) -> Stream[Any]:
        return from_acked(self._items())

    def check_exclusive(self) -> None:
        assert len(set(self.acked)) == len(self.acked), "acked twice"
        assert not set(self.acked) & set(self.nacked)


async def _double(x: int) -> int:
    await anyio.sleep(0.01 * (x % 3))
    return x * 2


SHAPES: dict[str, Callable[[Stream[Any]], Stream[Any]]] = {
    "inline": lambda s: s | parse(int) | where(lambda n: n % 2 == 0) | map(str),
    "buffered": lambda s: s | parse(int) | buffered(3) | where(lambda n: n % 2 == 0),
    "map_async": lambda s: s | parse(int) | map_async(_double, concurrency=3),
    "unordered": lambda s: s | parse(int) | map_async(_double, concurrency=3, ordered=False),
    "amap": lambda s: s | parse(int) | map_async(_double) | buffered(0),
}
WINDOWED: dict[str, Callable[[Stream[Any]], Stream[Any]]] = {
    "window": lambda s: s | parse(int) | buffered(4) | tumbling_window(0.01),
    "keyed": lambda s: s | parse(int) | tumbling_window(0.01, key=lambda n: n % 3),
}
VALUES = [str(n) if n % 5 else "bad" for n in range(30)]


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_completed_run_acks_every_item_once(shape: str) -> None:
    ledger = Ledger(VALUES)
    await SHAPES[shape](ledger.stream()).collect()
    assert sorted(ledger.acked) == list(range(30))
    assert ledger.nacked == []


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_iteration_acks_an_item_when_the_consumer_comes_back(shape: str) -> None:
    ledger = Ledger(VALUES)
    async with SHAPES[shape](ledger.stream()).stream() as items:
        async for item in items:
            index = int(item) // (2 if shape in ("map_async", "unordered", "amap") else 1)
            await anyio.sleep(0.05)
            # The item being processed is not acked behind the consumer's back...
            assert index not in ledger.acked
    assert sorted(ledger.acked) == list(range(30))
    ledger.check_exclusive()


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_an_abort_nacks_what_was_in_flight_and_never_acks_it(shape: str) -> None:
    ledger = Ledger(VALUES)
    seen: list[Any] = []
    with pytest.raises(RuntimeError, match="consumer failed"):
        async with SHAPES[shape](ledger.stream()).stream() as items:
            async for item in items:
                seen.append(item)
                if len(seen) == 4:
                    raise RuntimeError("consumer failed")
    ledger.check_exclusive()
    # Every item the source handed over is either acked (fully handled) or nacked.
    assert sorted(ledger.acked + ledger.nacked) == sorted(ledger.pulled)
    assert ledger.nacked, "the item being processed when the consumer failed is not acked"


async def test_dropped_and_dead_lettered_items_are_acked() -> None:
    async def flaky(x: int) -> int:
        if x % 4 == 0:
            raise ConnectionError("down")
        return x

    dead: DeadLetters[int] = DeadLetters()
    ledger = Ledger(list(range(12)))
    s = ledger.stream() | map_async(flaky, concurrency=2, on_error=dead) | buffered(2)
    assert await s.collect() == [x for x in range(12) if x % 4]
    assert len(dead) == 3
    assert sorted(ledger.acked) == list(range(12))

    ledger = Ledger(list(range(12)))
    await (ledger.stream() | map_async(flaky, concurrency=2, on_error="drop")).collect()
    assert sorted(ledger.acked) == list(range(12))


async def test_a_graceful_stop_acks_everything_pulled() -> None:
    ledger = Ledger([str(n) for n in range(1000)])
    s = SHAPES["map_async"](ledger.stream())
    async with s.stream() as items:
        async for _ in items:
            if len(ledger.pulled) >= 10:
                items.stop()
    assert 10 <= len(ledger.pulled) < 1000
    assert sorted(ledger.acked) == ledger.pulled
    assert ledger.nacked == []


async def test_take_acks_what_it_delivered() -> None:
    ledger = Ledger([str(n) for n in range(100)])
    assert await (ledger.stream() | buffered(2) | take(3)).collect() == ["0", "1", "2"]
    assert ledger.acked[:3] == [0, 1, 2]
    ledger.check_exclusive()
    assert sorted(ledger.acked + ledger.nacked) == sorted(ledger.pulled)


async def test_an_operator_without_acknowledgement_support_is_refused_clearly() -> None:
    @operator
    async def passthrough(source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in source:
            yield item

    with pytest.raises(TypeError, match="passthrough"):
        await (Ledger([1]).stream() | passthrough()).collect()
    with pytest.raises(TypeError, match="overflow"):
        await (Ledger([1]).stream() | buffered(1, overflow="drop_newest")).collect()


async def test_a_source_that_yields_plain_items_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="Acked"):
        await from_acked([1, 2]).collect()  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=40),
    fail_at=st.integers(min_value=-1, max_value=40),
    stop_at=st.integers(min_value=-1, max_value=40),
    shape=st.sampled_from(sorted(SHAPES)),
)
async def test_acks_and_nacks_partition_what_was_pulled(
    n: int, fail_at: int, stop_at: int, shape: str
) -> None:
    """Whatever happens, each pulled item is acked or nacked, never both, never twice."""
    ledger = Ledger([str(i) for i in range(n)])
    received = 0
    try:
        async with SHAPES[shape](ledger.stream()).stream() as items:
            async for _ in items:
                received += 1
                if received == stop_at:
                    items.stop()
                if received == fail_at:
                    raise RuntimeError("injected")
    except RuntimeError:
        pass
    ledger.check_exclusive()
    assert sorted(ledger.acked + ledger.nacked) == sorted(ledger.pulled)
    if fail_at == -1 or fail_at > received:
        assert ledger.nacked == []


@pytest.mark.parametrize("shape", list(WINDOWED))
async def test_items_folded_into_a_window_are_acked_with_the_window(shape: str) -> None:
    ledger = Ledger(VALUES, delay=0.001)
    windows = 0
    async with WINDOWED[shape](ledger.stream()).stream() as items:
        async for window in items:
            windows += 1
            # The window being processed: none of its items is acked yet.
            assert not set(window.items) & set(ledger.acked)
    assert windows > 1
    assert sorted(ledger.acked) == list(range(30))
    ledger.check_exclusive()


@pytest.mark.parametrize("shape", list(WINDOWED))
async def test_an_abort_does_not_ack_items_of_windows_not_handled(shape: str) -> None:
    ledger = Ledger(VALUES, delay=0.001)
    with pytest.raises(RuntimeError, match="consumer failed"):
        async with WINDOWED[shape](ledger.stream()).stream() as items:
            async for window in items:
                if window.items:
                    failed = set(window.items)
                    raise RuntimeError("consumer failed")
    assert not failed & set(ledger.acked)
    ledger.check_exclusive()
    assert sorted(ledger.acked + ledger.nacked) == sorted(ledger.pulled)


@pytest.mark.parametrize("shape", ["inline", "buffered"])
async def test_leaving_a_task_source_early_closes_its_stream_reader(shape: str) -> None:
    # A task source (e.g. from_redis_stream) reaches the tracked loop through a memory
    # stream read by a small generator; leaving early must close that generator too, not
    # leave it to the garbage collector (a ResourceWarning on trio: an error here).
    acked: list[int] = []

    async def produce(tx: Any, stop: Any) -> None:
        for n in range(1_000):
            await tx.send(Acked(str(n), ack=lambda n=n: acked.append(n)))

    source = Stream(TaskSource(produce, "acked task source", acknowledged=True))
    seen = 0
    async with SHAPES[shape](source).stream() as items:
        async for _ in items:
            seen += 1
            if seen == 30:
                break
    gc.collect()
    await anyio.sleep(0.01)  # a finaliser scheduled by the collector would run here
    assert acked
    assert len(set(acked)) == len(acked)
    assert max(acked) < 100  # the source was stopped soon after the consumer left
