"""``exhaust_map``: run one inner stream at a time, ignoring items that arrive meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any, TypeVar, overload

import anyio
from anyio import BrokenResourceError
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_sync_callable, describe
from .._core.handoff import END, downstream_left, receive_or_end
from .._core.operator import Operator, StageContext, StagedStep, step_name
from .._core.stream import Stream
from .transform import Inner, _forward, _open_inner

__all__ = ["exhaust_map"]

T = TypeVar("T")
U = TypeVar("U")

#: The stats reason for input items that arrive while an inner stream is running.
BUSY = "inner stream running"


@overload
def exhaust_map(fn: Callable[[T], Stream[U]], *, name: str | None = None) -> Operator[T, U]: ...
@overload
def exhaust_map(
    fn: Callable[[T], AsyncIterable[U]], *, name: str | None = None
) -> Operator[T, U]: ...
@overload
def exhaust_map(fn: Callable[[T], Iterable[U]], *, name: str | None = None) -> Operator[T, U]: ...
def exhaust_map(fn: Callable[[T], Inner[U]], *, name: str | None = None) -> Operator[T, U]:
    """For an item that arrives while no inner stream runs, emit all of ``fn(item)``.

    ::

        input   -a--b-----c--|        exhaust_map(x -> x1 ... x2)
        output  --a1---a2--c1---c2|   (b ignored: a's inner stream was running)

    Input items that arrive while an inner stream is running are dropped (``fn`` is not
    called for them) and counted in the step's stats (reason ``"inner stream running"``);
    the input keeps being read meanwhile. The output ends once the input has ended and the
    running inner stream has ended. ``fn`` returns a :class:`Stream` or an (async)
    iterable. RxJS ``exhaustMap``; Kotlin has none (``flatMapFirst`` in some libraries);
    aiostream has none.
    """
    check_sync_callable("exhaust_map", "fn", fn, async_alternative="an async generator function")
    label = step_name("exhaust_map", name, f"exhaust_map({describe(fn)})")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        counts = ctx.counts
        stats = ctx.stats
        busy = False

        async def forward(inner: Any) -> None:
            nonlocal busy
            try:
                await _forward(inner, tx, counts, label)
            except BrokenResourceError:
                if not downstream_left(tx):
                    raise
                tg.cancel_scope.cancel()  # the consumer left: stop quietly
            finally:
                busy = False

        async with anyio.create_task_group() as tg:
            while (item := await receive_or_end(rx)) is not END:
                counts.received += 1
                if busy:
                    stats.drop(BUSY)
                    continue
                busy = True
                tg.start_soon(forward, _open_inner(fn, item, label), name=f"anystream {label}")

    return Operator((StagedStep(label, run),))
