"""IdempotentSink: each key written once within the dedup window."""

from __future__ import annotations

import anyio
import pytest

from anystream import IdempotentSink

pytestmark = pytest.mark.anyio


class Store:
    def __init__(self, fail_first: int = 0) -> None:
        self.rows: list[tuple[int, str]] = []
        self.fail_first = fail_first

    async def write(self, row: tuple[int, str]) -> None:
        await anyio.sleep(0.01)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("write failed")
        self.rows.append(row)


async def test_repeats_are_skipped_and_counted() -> None:
    store = Store()
    sink = IdempotentSink(store.write, key=lambda row: row[0], max_keys=100)
    assert await sink((1, "a")) is True
    assert await sink((1, "a again")) is False
    assert await sink((2, "b")) is True
    assert store.rows == [(1, "a"), (2, "b")]
    assert (sink.written, sink.duplicates) == (2, 1)


async def test_a_failed_write_is_not_remembered() -> None:
    store = Store(fail_first=1)
    sink = IdempotentSink(store.write, key=lambda row: row[0], ttl=60)
    with pytest.raises(ConnectionError):
        await sink((1, "a"))
    assert await sink((1, "a")) is True
    assert store.rows == [(1, "a")]


async def test_concurrent_writes_of_one_key_write_once() -> None:
    store = Store()
    sink = IdempotentSink(store.write, key=lambda row: row[0], max_keys=10)
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(sink, (7, "x"))
    assert store.rows == [(7, "x")]
    assert sink.duplicates == 4


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="write"):
        IdempotentSink(lambda row: None, key=lambda row: row, max_keys=1)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match=r"max_keys|ttl"):
        IdempotentSink(Store().write, key=lambda row: row[0])
