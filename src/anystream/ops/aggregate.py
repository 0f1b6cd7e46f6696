"""Aggregating operators: fold the whole input (``reduce``, ``count``) or split it by key
(``group_by``).

``reduce`` and ``count`` are generator steps that emit one item at the end of input.
``group_by`` is a staged step (see its docstring for why, and for its backpressure).

Names that differ from aiostream: ``reduce`` is ``pipe.reduce`` (same meaning; aiostream
also accepts ``initializer``); ``count`` and ``group_by`` have no aiostream counterpart
(RxJS ``count``, ``groupBy``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import anyio
from anyio import BrokenResourceError, ClosedResourceError, EndOfStream, create_memory_object_stream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import (
    check_int,
    check_item_callable,
    check_sync_callable,
    describe,
    is_async_callable,
)
from .._core.errors import add_operator_note
from .._core.handoff import receive, send
from .._core.operator import GenStep, Operator, StageContext, StagedStep, step_name

__all__ = ["Group", "GroupLimitExceeded", "count", "group_by", "reduce"]

T = TypeVar("T")
A = TypeVar("A")
K = TypeVar("K", bound=Hashable)

_MISSING: Any = object()


# -- folds --------------------------------------------------------------------------------


def reduce(
    fn: Callable[[A, T], A] | Callable[[A, T], Awaitable[A]],
    initial: A = _MISSING,
    *,
    name: str | None = None,
) -> Operator[T, A]:
    """Emit one item at the end of input: the fold ``fn(...fn(fn(initial, x0), x1)..., xn)``.

    Without ``initial`` the first item starts the fold; an empty input then raises
    ``TypeError`` as ``functools.reduce`` does (with a note naming this operator). With
    ``initial``, an empty input emits ``initial``. ``fn`` may be a plain function or a
    coroutine function. Emits nothing before the input ends, so on an endless input it
    never emits: use ``scan`` for running values. aiostream: ``pipe.reduce``.
    """
    check_item_callable("reduce", "fn", fn, arity=2)
    name = step_name("reduce", name, f"reduce({describe(fn)})")
    is_async = is_async_callable(fn)

    async def folding(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        acc: Any = initial
        async for item in upstream:
            if acc is _MISSING:
                acc = item
                continue
            try:
                acc = fn(acc, item)
                if is_async:
                    acc = await acc
            except Exception as exc:
                add_operator_note(exc, name)
                raise
        if acc is _MISSING:
            error = TypeError("reduce() of empty iterable with no initial value")
            add_operator_note(error, name)
            raise error
        yield acc

    return Operator((GenStep(name, folding),))


def count(*, name: str | None = None) -> Operator[object, int]:
    """Emit one item at the end of input: how many items there were (0 for none)."""

    async def counting(upstream: AsyncIterator[Any]) -> AsyncIterator[int]:
        n = 0
        async for _ in upstream:
            n += 1
        yield n

    return Operator((GenStep(step_name("count", name, "count"), counting),))


# -- group_by -----------------------------------------------------------------------------


class GroupLimitExceeded(RuntimeError):
    """``group_by`` met a new key while ``max_groups`` groups were already open."""


class Group(Generic[K, T]):
    """The items of one key, emitted by :func:`group_by`: ``async for item in group``.

    ``key`` is the key. Iterating ends when the input of ``group_by`` has ended. Stop
    early with ``await group.aclose()`` (or ``async with group:``): ``group_by`` then
    forgets the group, and a later item with the same key starts a new group. ``collect()``
    gathers the remaining items in a list (it returns only at the end of the input).

    If the run ends abnormally (an error, an abort), a group does *not* end: it would
    look complete when it is not. Its reader waits instead, and a reader inside the run
    (the consuming loop, ``merge_map``, a downstream stage) is cancelled with the run; a
    reader in a task of your own outside the run waits until you cancel it, so read
    groups inside the run.
    """

    __slots__ = ("_aborted", "_items", "key")

    def __init__(self, key: K, items: MemoryObjectReceiveStream[T]) -> None:
        self.key: K = key
        self._items = items
        self._aborted = False

    def __aiter__(self) -> Group[K, T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await receive(self._items)
        except (EndOfStream, ClosedResourceError):
            self._items.close()
            if self._aborted:
                # Not the end of the group: wait for the run's cancellation to reach us
                # rather than end early or add an error of our own to the run's one.
                await anyio.sleep_forever()
            raise StopAsyncIteration from None

    async def collect(self) -> list[T]:
        """The group's remaining items, once the input has ended."""
        return [item async for item in self]

    async def aclose(self) -> None:
        """Stop receiving this group's items (see the class docstring)."""
        self._items.close()

    async def __aenter__(self) -> Group[K, T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._items.close()

    def __del__(self) -> None:
        # Nobody can read the group any more: close it quietly rather than let anyio warn
        # about an unclosed stream (a group whose buffered items were never read).
        items = getattr(self, "_items", None)
        if items is not None:
            items.close()

    def __repr__(self) -> str:
        return f"Group(key={self.key!r})"


def group_by(
    key: Callable[[T], K],
    *,
    max_groups: int = 1000,
    buffer: int = 0,
    name: str | None = None,
) -> Operator[T, Group[K, T]]:
    """Split the input by ``key(item)``: emit a :class:`Group` per key, then route items to it.

    ::

        input   -a1-b1-a2-b2-|        group_by(letter)
        output  -A--B--------|        A: -a1----a2----|   B: ----b1----b2-|

    The first item of a new key emits a new group downstream; that item and every later
    item with the key then go into the group. Every group ends when the input ends.

    Bounded: at most ``max_groups`` groups are open at once (groups the consumer closed
    do not count); an item with one key too many raises :class:`GroupLimitExceeded`.
    Each group buffers ``buffer`` items (default 0: an item waits until its group's reader
    takes it).

    Backpressure, as in RxJS ``groupBy`` and Kotlin: one task routes every item, so a
    group that nobody reads blocks every group, and a group that nobody reads *yet*
    blocks the emission of the next group. Read the groups concurrently, e.g.
    ``group_by(key) | merge_map(summarise, concurrency=max_groups)`` with
    ``summarise`` an async generator over a group, or a task per group; do not read one
    group to its end before taking the next, and do not ``collect()`` the groups
    themselves before reading them (both wait forever unless ``buffer`` holds all items).

    A staged operator: it needs a task of its own to route items while the groups are
    read elsewhere. Stats: ``received`` counts items, ``emitted`` counts groups.
    """
    check_sync_callable("group_by", "key", key, async_alternative="map_async() before it")
    check_item_callable("group_by", "key", key, hint="a plain function")
    limit = check_int("group_by", "max_groups", max_groups, minimum=1)
    size = check_int("group_by", "buffer", buffer, minimum=0)
    name = step_name("group_by", name, f"group_by({describe(key)})")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        counts = ctx.counts
        groups: dict[Any, tuple[MemoryObjectSendStream[Any], Group[Any, Any]]] = {}

        def forget_closed() -> None:
            for k in [k for k, (gtx, _) in groups.items() if _reader_left(gtx)]:
                groups.pop(k)[0].close()

        try:
            while True:
                try:
                    item = await receive(rx)
                except EndOfStream:
                    break
                counts.received += 1
                try:
                    k = key(item)
                    entry = groups.get(k)
                except Exception as exc:
                    add_operator_note(exc, name)
                    raise
                while True:
                    if entry is None:
                        if len(groups) >= limit:
                            forget_closed()
                        if len(groups) >= limit:
                            error = GroupLimitExceeded(
                                f"group_by(): a new key {k!r} while max_groups={limit} groups "
                                "are open; raise max_groups, or close groups you are done "
                                "with (await group.aclose())"
                            )
                            add_operator_note(error, name)
                            raise error
                        gtx, grx = create_memory_object_stream[Any](size)
                        entry = (gtx, Group(k, grx))
                        groups[k] = entry
                        counts.emitted += 1
                        await send(tx, entry[1])
                    try:
                        await send(entry[0], item)
                    except BrokenResourceError:
                        # The consumer closed this group: a new group starts for the key.
                        groups.pop(k)[0].close()
                        entry = None
                        continue
                    break
        except BaseException:
            for gtx, group in groups.values():
                group._aborted = True  # not complete: its reader waits to be cancelled
                gtx.close()
                group._items.close()
            raise
        for gtx, group in groups.values():
            gtx.close()
            if not gtx.statistics().current_buffer_used:
                group._items.close()  # nothing left to read: ends at the reader's next call

    return Operator((StagedStep(name, run),))


def _reader_left(stream: MemoryObjectSendStream[Any]) -> bool:
    return stream.statistics().open_receive_streams == 0
