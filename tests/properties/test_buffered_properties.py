"""Property tests: order and completeness through any chain of boundaries."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import Stream, buffered, from_iterable, map, where

pytestmark = pytest.mark.anyio

sizes = st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.integers(), max_size=200), buffer_sizes=sizes)
async def test_order_kept_and_nothing_lost_through_buffers(
    items: list[int], buffer_sizes: list[int]
) -> None:
    s: Stream[int] = from_iterable(items)
    for size in buffer_sizes:
        s = s | buffered(size) | map(lambda x: x)
    assert await s.collect() == items


@settings(max_examples=30, deadline=None)
@given(
    items=st.lists(st.integers(min_value=-50, max_value=50), max_size=100),
    buffer_sizes=sizes,
    stop_after=st.integers(min_value=0, max_value=100),
)
async def test_graceful_stop_delivers_exactly_what_was_pulled(
    items: list[int], buffer_sizes: list[int], stop_after: int
) -> None:
    """Stop from the consumer at a random point: every pulled item is delivered, once."""
    pulled: list[int] = []

    async def source() -> object:
        for item in items:
            await anyio.sleep(0.001)
            pulled.append(item)
            yield item

    s: Stream[int] = from_iterable(source())  # type: ignore[arg-type]
    for size in buffer_sizes:
        s = s | buffered(size) | where(lambda x: True)
    got: list[int] = []
    async with s.stream() as run:
        async for item in run:
            got.append(item)
            if len(got) == stop_after:
                run.stop()
    assert got == pulled
    assert got == items[: len(got)]
