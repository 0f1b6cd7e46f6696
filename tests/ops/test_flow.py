"""Flow family: ``buffered(n, overflow=...)``.

The overflow policies themselves live in ``_core/handoff.py`` (``make_put``); these tests
check them from the outside: bounds, order, counts, and that nothing is lost silently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from anystream import buffered, from_iterable, map, take
from anystream.testing import ScriptedSource, at, hang, raise_, scripted

pytestmark = pytest.mark.anyio


class Producer:
    """An async generator source that records how many items it has produced, and when."""

    def __init__(self, n: int, every: float = 0.0) -> None:
        self.n = n
        self.every = every
        self.produced = 0
        self.times: list[float] = []
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[int]:
        t0 = anyio.current_time()
        try:
            for i in range(self.n):
                if self.every:
                    await anyio.sleep(self.every)
                self.produced += 1
                self.times.append(anyio.current_time() - t0)
                yield i
        finally:
            self.closed = True


@pytest.mark.parametrize("n", [0, 1, 5])
async def test_block_keeps_order_loses_nothing_and_bounds_run_ahead(n: int) -> None:
    producer = Producer(40)
    received: list[int] = []
    ahead: list[int] = []
    async with (from_iterable(producer) | buffered(n)).stream() as items:
        async for item in items:
            received.append(item)
            await anyio.sleep(1)  # a slow consumer
            ahead.append(producer.produced - len(received))
    assert received == list(range(40))
    # The buffer holds n, the upstream stage one more in hand: never more, and it gets there.
    assert max(ahead) == n + 1


async def test_block_bound_across_two_stages() -> None:
    producer = Producer(40)
    ahead: list[int] = []
    seen = 0
    s = from_iterable(producer) | buffered(3) | map(lambda x: x) | buffered(2)
    async with s.stream() as items:
        async for _ in items:
            seen += 1
            await anyio.sleep(1)
            ahead.append(producer.produced - seen)
    assert seen == 40
    # 3 + 2 buffered, plus one in hand for each of the two upstream stages.
    assert max(ahead) <= 3 + 2 + 2


@pytest.mark.parametrize(
    ("n", "policy"), [(2, "drop_newest"), (2, "drop_oldest"), (1, "latest"), (3, "drop_oldest")]
)
async def test_drop_policies_never_block_and_count_every_drop(n: int, policy: Any) -> None:
    producer = Producer(20, every=1.0)  # item i at t = i + 1
    received: list[int] = []
    s = from_iterable(producer) | buffered(n, overflow=policy)
    async with s.stream() as items:
        async for item in items:
            received.append(item)
            await anyio.sleep(3.3)
    # The producer ran on its own schedule: the slow consumer never held it back.
    assert producer.times == [float(i + 1) for i in range(20)]
    assert received == sorted(set(received))  # order kept, nothing duplicated
    stats = s.stats()["buffered"]
    dropped = stats.dropped.get("overflow", 0)
    assert dropped > 0
    assert len(received) + dropped == 20
    assert stats.received == stats.emitted + dropped == 20
    if policy == "drop_newest":
        assert received[:3] == [0, 1, 2]
    else:
        assert received[-1] == 19  # the newest item is never the one dropped


async def test_latest_delivers_newest_value() -> None:
    producer = Producer(10, every=1.0)
    received: list[int] = []
    s = from_iterable(producer) | buffered(1, overflow="latest")
    async with s.stream() as items:
        async for item in items:
            received.append(item)
            await anyio.sleep(4.2)
    # The consumer looks again at 5.2 (newest: item 4, from t=5), 9.4 (item 8) and 13.6
    # (item 9, the last one, still kept).
    assert received == [0, 4, 8, 9]
    assert s.stats()["buffered"].dropped == {"overflow": 6}


async def test_drop_policy_with_fast_consumer_drops_nothing() -> None:
    s = from_iterable(Producer(50, every=1.0)) | buffered(2, overflow="drop_oldest")
    assert await s.collect() == list(range(50))
    assert s.stats()["buffered"].dropped == {}


async def test_early_exit_closes_upstream() -> None:
    producer = Producer(1000)
    assert await (from_iterable(producer) | buffered(4) | take(3)).collect() == [0, 1, 2]
    assert producer.closed
    assert producer.produced < 1000


@pytest.mark.parametrize("policy", ["block", "drop_oldest", "drop_newest", "latest"])
async def test_break_closes_upstream(policy: Any) -> None:
    source = ScriptedSource(at(0, 1), at(1, 2), hang())
    async with (source.as_stream() | buffered(1, overflow=policy)).stream() as items:
        async for _ in items:
            break
    assert source.opened == source.closed == 1


@pytest.mark.parametrize("policy", ["block", "drop_oldest", "drop_newest", "latest"])
async def test_upstream_error_propagates_as_itself(policy: Any) -> None:
    error = KeyError("boom")
    with pytest.raises(KeyError) as info:
        await (scripted(at(0, 1), raise_(error)) | buffered(1, overflow=policy)).collect()
    assert info.value is error


async def test_take_after_boundary_does_not_wait_for_a_quiet_source() -> None:
    # Core bug (see the report): take() in the last segment, behind a boundary, ends the
    # consumer's loop, but the run then waits for the upstream task, which is waiting for
    # its source's next item and never learns that downstream is gone. With a source that
    # goes quiet, collect() never returns.
    with anyio.fail_after(10):
        assert await (scripted(at(0, "a"), hang()) | buffered(1) | take(1)).collect() == ["a"]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n": -1}, ValueError, "n must be >= 0"),
        ({"n": 1.5}, TypeError, "n must be an int"),
        ({"n": True}, TypeError, "n must be an int"),
        ({"n": 2, "overflow": "bogus"}, ValueError, "overflow"),
        ({"n": 0, "overflow": "drop_oldest"}, ValueError, "n >= 1"),
        ({"n": 0, "overflow": "drop_newest"}, ValueError, "n >= 1"),
        ({"n": 2, "overflow": "latest"}, ValueError, "n must be 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        buffered(**kwargs)
