"""Acked(dead=...): an error policy's dead letter reaches the source before the ack; and
collect() acknowledges each item as it is appended (no Redis needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import Acked, DeadLetters, from_acked, map_async

pytestmark = pytest.mark.anyio


class Journal:
    """A source recording, in order, ("dead", i, error) and ("ack", i) events."""

    def __init__(self, n: int, delay: float = 0.0) -> None:
        self.n = n
        self.delay = delay
        self.events: list[tuple[Any, ...]] = []

    async def _items(self) -> AsyncIterator[Acked[int]]:
        for i in range(self.n):
            if self.delay:
                await anyio.sleep(self.delay)
            yield Acked(
                i,
                ack=lambda i=i: self.events.append(("ack", i)),
                nack=lambda reason, i=i: self.events.append(("nack", i)),
                dead=lambda error, i=i: self.events.append(("dead", i, str(error))),
            )

    def stream(self) -> Any:
        return from_acked(self._items())


async def _fail_on_odd(x: int) -> int:
    await anyio.lowlevel.checkpoint()
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_dead_is_called_with_the_error_before_the_ack(concurrency: int) -> None:
    journal = Journal(10)
    letters: DeadLetters[int] = DeadLetters()
    got = await (
        journal.stream() | map_async(_fail_on_odd, concurrency=concurrency, on_error=letters)
    ).collect()
    assert sorted(got) == [0, 2, 4, 6, 8]
    assert len(letters) == 5
    for i in range(1, 10, 2):
        dead = journal.events.index(("dead", i, f"odd {i}"))
        assert dead < journal.events.index(("ack", i))
    assert sorted(e[1] for e in journal.events if e[0] == "ack") == list(range(10))
    assert not [e for e in journal.events if e[0] == "nack"]


async def test_drop_does_not_call_dead() -> None:
    journal = Journal(6)
    await (journal.stream() | map_async(_fail_on_odd, concurrency=2, on_error="drop")).collect()
    assert not [e for e in journal.events if e[0] == "dead"]
    assert sorted(e[1] for e in journal.events if e[0] == "ack") == list(range(6))


async def test_collect_acknowledges_as_it_goes() -> None:
    journal = Journal(20, delay=0.01)
    acked_at_10: list[int] = []

    async def watch(x: int) -> int:
        if x == 10:
            acked_at_10.extend(e[1] for e in journal.events if e[0] == "ack")
        return x

    assert await (journal.stream() | map_async(watch)).collect() == list(range(20))
    assert acked_at_10 == list(range(10))  # the first ten were in the list already
