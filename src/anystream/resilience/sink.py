"""An idempotent sink: at-least-once delivery in, effectively-once effects out.

At-least-once delivery means a write can be attempted twice for the same event: a retry
after a write that succeeded but whose reply was lost, a replay after an abort. When
events carry ids, wrapping the write in :class:`IdempotentSink` makes repeats harmless:
an event whose key was written successfully within the dedup window (see
:class:`~anystream.resilience.SeenKeys` for its precise bounds) is skipped and counted.

A key is remembered only after its write *succeeded*, so a failed write can be retried.
Two concurrent writes of the same key do not both happen: the second waits for the
first and is skipped if the first succeeded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

from .._core.callables import check_async_callable, check_callable
from .keystore import SeenKeys

__all__ = ["IdempotentSink"]

T = TypeVar("T")


class IdempotentSink(Generic[T]):
    """``await sink(item)`` writes ``item`` unless its key was already written.

    Args:
        write: the coroutine function doing the real write.
        key: the item's id (``lambda event: event.id``).
        max_keys, ttl: the dedup window (at least one is required; see ``SeenKeys``).

    ``written`` and ``duplicates`` count what happened; the call returns True when it
    wrote, False for a duplicate. Use it as the function of ``map_async``.
    """

    def __init__(
        self,
        write: Callable[[T], Awaitable[object]],
        *,
        key: Callable[[T], Hashable],
        max_keys: int | None = None,
        ttl: float | None = None,
    ) -> None:
        check_async_callable("IdempotentSink", "write", write, sync_alternative="an async wrapper")
        check_callable("IdempotentSink", "key", key)
        self._write = write
        self._key = key
        self._seen: SeenKeys[Hashable] = SeenKeys(max_keys=max_keys, ttl=ttl)
        self._writing: dict[Hashable, anyio.Event] = {}
        self.written: int = 0
        self.duplicates: int = 0

    async def __call__(self, item: T) -> bool:
        key = self._key(item)
        while key in self._writing:  # the same key is being written right now
            await self._writing[key].wait()
        if key in self._seen:
            self._seen.add(key)  # refresh: a repeat extends the window like a write
            self.duplicates += 1
            return False
        done = self._writing[key] = anyio.Event()
        try:
            await self._write(item)
        finally:
            del self._writing[key]
            done.set()
        self._seen.add(key)
        self.written += 1
        return True
