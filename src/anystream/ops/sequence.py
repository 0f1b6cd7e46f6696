"""Operators that pick items by position or replay them: ``slice``, ``item``, ``cycle``.

All three are generator steps: they run in the same task as their neighbours and need no
clock. ``slice`` and ``item`` stop pulling the upstream (closing it) as soon as no later
item can be emitted.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import anyio.lowlevel

from .._core.operator import GenStep, SameOperator, step_name

__all__ = ["cycle", "item", "slice"]


def _check_index(op: str, arg: str, value: object, *, minimum: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}(): {arg} must be an int, got {type(value).__name__} {value!r:.60}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}(): {arg} must be an int >= {minimum}, got {value!r}")
    return value


def slice(
    start: int = 0, stop: int | None = None, step: int = 1, *, name: str | None = None
) -> SameOperator:
    """Emit the items at positions ``start, start+step, ...`` below ``stop``, like ``s[a:b:c]``.

    ::

        input   -a-b-c-d-e-f-|    slice(1, 5, 2)
        output  ---b---d|

    Positions count from 0 in the upstream. ``stop=None`` means no end. Indices are
    non-negative (a negative one would need the upstream's length) and ``step >= 1``.
    The output ends, and the upstream is closed, once position ``stop - 1`` is passed.
    aiostream ``getitem(slice)`` / ``takewhile``+``skip``; RxJS ``skip(a).take(b-a)``;
    Kotlin ``drop(a).take(b-a)``.
    """
    first = _check_index("slice", "start", start, minimum=0)
    end = None if stop is None else _check_index("slice", "stop", stop, minimum=0)
    stride = _check_index("slice", "step", step, minimum=1)

    async def pick(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if end is not None and end <= first:
            return
        index = 0
        async for value in upstream:
            if index >= first and (index - first) % stride == 0:
                yield value
            index += 1
            if end is not None and index >= end:
                return

    label = f"slice({first}, {end}, {stride})"
    return SameOperator((GenStep(step_name("slice", name, label), pick),))


def item(index: int, *, name: str | None = None) -> SameOperator:
    """Emit only the item at position ``index`` (negative: from the end), then end.

    ::

        input   -a-b-c-d-|        item(2)
        output  -----c|
        input   -a-b-c-d-|        item(-1)
        output  ---------(d|)

    A non-negative ``index`` ends the output (and closes the upstream) at that item; a
    negative one keeps the last ``-index`` items (bounded memory) until the upstream ends.
    An upstream too short raises ``IndexError`` naming the operator. aiostream
    ``getitem(i)``; RxJS ``elementAt`` / ``takeLast(1)``; Kotlin ``drop(i).first()``.
    """
    wanted = _check_index("item", "index", index, minimum=None)
    label = step_name("item", name, f"item({wanted})")

    async def pick(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if wanted >= 0:
            position = 0
            async for value in upstream:
                if position == wanted:
                    yield value
                    return
                position += 1
            raise IndexError(f"{label}: the upstream ended after {position} items")
        last: deque[Any] = deque(maxlen=-wanted)
        seen = 0
        async for value in upstream:
            last.append(value)
            seen += 1
        if seen < -wanted:
            raise IndexError(f"{label}: the upstream ended after {seen} items")
        yield last[0]

    return SameOperator((GenStep(label, pick),))


def cycle(*, max_items: int | None = 100_000, name: str | None = None) -> SameOperator:
    """Emit the upstream's items, then replay them in order, forever.

    ::

        input   -a-b-|            cycle()
        output  -a-b-(ab)(ab)...

    The first pass is emitted as it arrives; once the upstream has ended, what it emitted
    is replayed again and again (with a checkpoint between items, so a ``take`` or a
    cancel downstream ends it). An empty upstream gives an empty output; an upstream that
    fails fails the output. **Memory:** every item of the first pass is kept, at most
    ``max_items`` (default 100 000): an upstream that emits more raises ``OverflowError``
    naming the operator rather than grow without bound; ``max_items=None`` lifts the
    limit. aiostream ``cycle``; Python ``itertools.cycle``; RxJS ``repeat()`` (which
    re-subscribes instead of replaying).
    """
    limit = None if max_items is None else _check_index("cycle", "max_items", max_items, minimum=1)
    label = step_name("cycle", name, "cycle")

    async def replay(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        seen: builtins.list[Any] = []
        async for value in upstream:
            if limit is not None and len(seen) >= limit:
                raise OverflowError(
                    f"{label}: the upstream emitted more than max_items={limit} items, "
                    "which cycle() keeps to replay; pass a larger max_items, or None"
                )
            seen.append(value)
            yield value
        if not seen:
            return
        while True:
            for value in seen:
                await anyio.lowlevel.checkpoint()
                yield value

    return SameOperator((GenStep(label, replay),))
