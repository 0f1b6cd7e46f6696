"""A stream-fed fused loop's patient yield: taken while it helps, dropped while it does not.

While items come in batches, a loop that finds its input empty first yields once
(``checkpoint()``) in case its producer has more, and only then parks (fuse.py,
"Parking"). A producer released by a timer a few items at a time (a paced source at
moderate load) has nothing more when the loop yields: these tests pin that such a loop
stops paying that futile pass on every batch, and that what it delivers is unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import buffered, from_iterable, map
from anystream._core import fuse

pytestmark = pytest.mark.anyio

BURSTS = 45
BURST = 5


async def _bursts(gap: float = 0.005) -> AsyncIterator[int]:
    """``BURSTS`` bursts of ``BURST`` items, the source idle between them."""
    for b in range(BURSTS):
        for i in range(BURST):
            yield b * BURST + i
        await anyio.sleep(gap)


def _count_checkpoints(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the checkpoints every fused loop built from now on takes."""
    calls = [0]
    native = fuse.native_checkpoint

    def counting_native() -> Callable[[], Any]:
        checkpoint = native()

        async def counted() -> None:
            calls[0] += 1
            await checkpoint()

        return counted

    monkeypatch.setattr(fuse, "native_checkpoint", counting_native)
    return calls


async def test_a_consumer_fed_in_small_bursts_stops_yielding_before_each_park(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _count_checkpoints(monkeypatch)
    got: list[int] = []
    with anyio.fail_after(60):
        async with (from_iterable(_bursts()) | buffered(50)).stream() as items:
            async for item in items:
                got.append(item)
    assert got == list(range(BURSTS * BURST))
    # Every burst ends a park with more items waiting, so each one made the loop patient
    # before; now a futile yield makes it park at once for its next 8 parks: about one
    # yield in 9 bursts (the source's own checkpoint tick adds none for 225 items).
    assert calls[0] <= BURSTS // 9 + 2, calls[0]


async def test_a_consumer_fed_in_bursts_still_sees_every_item_in_order_through_a_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _count_checkpoints(monkeypatch)
    with anyio.fail_after(60):
        out = await (from_iterable(_bursts(0.001)) | buffered(8) | map(lambda x: x + 1)).collect()
    assert out == [x + 1 for x in range(BURSTS * BURST)]
    assert calls[0] <= BURSTS // 9 + 2, calls[0]


async def test_a_fast_producer_still_gets_the_patient_yield() -> None:
    # A producer that refills the buffer while the consumer yields: the patient yield
    # finds items and the consumer does not turn shy; every item arrives in order.
    async def steady() -> AsyncIterator[int]:
        for i in range(2_000):
            yield i
            if i % 7 == 0:
                await anyio.lowlevel.checkpoint()

    with anyio.fail_after(60):
        out = await (from_iterable(steady()) | buffered(4) | map(lambda x: x * 2)).collect()
    assert out == [2 * i for i in range(2_000)]
