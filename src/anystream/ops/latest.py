"""``with_latest_from``: pair every upstream item with the latest item of another stream.

A staged operator built on the combinators' machinery (``ops/combine.py``): the other
stream runs in a task of this step with ``async with other.stream()``, a graceful stop is
relayed to it, and it is closed when the upstream ends or the consumer leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.operator import StageContext, StagedStep, step_name
from .._core.stream import Stream
from .combine import _MISSING, Input, ZippedWith, _check_streams, _Combinator, _run

__all__ = ["with_latest_from"]

T = TypeVar("T")
U = TypeVar("U")

#: The stats reason for upstream items that arrive before ``other`` has emitted.
NO_LATEST = "no latest yet"


def with_latest_from(other: Stream[U], *, name: str | None = None) -> ZippedWith[U]:
    """For every upstream item, emit ``(item, latest item of other)``.

    ::

        input   --a-----b---c--|      with_latest_from(other)
        other   ----x-y-------z-|
        output  --------(b,y)(c,y)|   (a dropped: other had not emitted yet)

    Only upstream items cause output; ``other``'s items just update the latest value.
    Upstream items that arrive before ``other``'s first item are dropped and counted in
    the step's stats (reason ``"no latest yet"``). When ``other`` ends its last item
    stays in use; the output ends when the upstream ends (``other`` is then closed). An
    error of either propagates. RxJS ``withLatestFrom``; Kotlin ``combine`` (which also
    emits on the other's items); aiostream has none.
    """
    _check_streams("with_latest_from", [other])
    label = step_name("with_latest_from", name, "with_latest_from")

    async def run(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        stats = ctx.stats

        async def body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
            latest: Any = _MISSING

            async def follow() -> None:
                nonlocal latest
                async with comb.open(1, other) as items:
                    async for value in items:
                        latest = value

            tg.start_soon(follow, name=f"anystream {label} other")
            async with comb.open(0, rx) as items:
                async for item in items:
                    if latest is _MISSING:
                        stats.drop(NO_LATEST)
                        continue
                    if not await comb.emit((item, latest), tg):
                        return

        await _run(body, _Combinator(label, tx, ctx.stop, ctx.counts), [rx, other])

    return ZippedWith((StagedStep(label, run),))
