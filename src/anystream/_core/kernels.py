"""The kernel instruction set, as data, and a plain reference interpreter for it.

A *kernel* is a per-item operation the runner knows by name (see ``operator.Kernel``).
This module says what each kind does with one item, in one table (:data:`KINDS`), and
runs a list of kernels with an ordinary loop (:func:`interpret`). ``fuse.py`` generates
the same loop inlined, for speed; this one is the reference it is tested against
(``tests/properties/test_fuse_oracle.py``) and what runs instead of the generated code
when the environment variable ``ANYSTREAM_NO_FUSE=1`` is set (read once, when
``anystream`` is imported): a debugging aid, several times slower per item.

What each kind does with an item ``x`` (kernel ``i`` of ``m``; ``cnt`` holds the loop's
counters, see "Counters" below):

===========  ==========================================================================
kind         effect
===========  ==========================================================================
``map``      ``x = fn(x)``
``amap``     ``x = await fn(x)``
``filter``   ``r = fn(x)``; ``r`` awaited if it is awaitable; a false ``r`` drops ``x``
             (reason ``"filtered"``)
``afilter``  ``r = await fn(x)``; a false ``r`` drops ``x`` (reason ``"filtered"``)
``parse``    ``x = fn(x)``; one of :data:`MALFORMED` drops ``x`` (reason ``"malformed"``)
``take``     passes ``x`` on; once ``arg`` items have passed, the loop ends after the
             item in hand and closes its upstream (``arg <= 0``: pulls nothing)
===========  ==========================================================================

Any other exception raised by ``fn`` propagates with a note naming the operator
(``errors.add_operator_note``).

Counters: ``cnt`` is a sequence of ``m + 1`` :class:`~.stats.StageCounts`, one per
kernel and one for whatever takes the loop's output. ``cnt[i].received`` counts items
entering kernel ``i``, ``cnt[m].received`` items leaving the loop, and kernel ``i``'s
drops are counted in the field of ``cnt[i]`` named by its reason (``filtered``,
``malformed``). Nothing runs between two kernels, so what kernel ``i`` emitted is what
``cnt[i + 1]`` received (``stats.py``).

Stop (``StopState``, see ``shutdown.py``), for a *stoppable* loop (the one that owns the
source; a loop fed by a memory stream never looks at the flag: a stop reaches it as the
end of its input): an async source is read through ``StopState.pull``, which checks the flag
before each pull and sets ``pulling`` while the loop waits inside the source; a sync
source's flag is checked before each pull too, and ``pulling`` is never set at its
checkpoint, where the item just pulled is in hand. One exception, kept from the fused
loop for speed: a sync source with no ``take``, whose output is not ``"yield"``, is read
with a ``for`` loop, which checks the flag only *after* each pull. When the flag is seen
after a pull (output not ``"yield"``), the item in hand is finished by
``StopState.finish_item`` (under a shield) and the loop ends, so a stop never loses a
pulled item.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from anyio import EndOfStream

from ._backends import native_checkpoint
from .callables import refuse_async_gen_result, refuse_unawaited
from .errors import add_operator_note
from .shutdown import CHECKPOINT_EVERY, STOPPED

if TYPE_CHECKING:
    from .operator import Kernel
    from .stats import StageCounts

__all__ = [
    "CHECKPOINT_EVERY",
    "INPUTS",
    "KINDS",
    "MALFORMED",
    "OUTPUTS",
    "Chain",
    "KindSpec",
    "drop_reason",
    "interpret",
]

#: Exceptions that make ``parse`` treat an input as malformed.
MALFORMED = (ValueError, TypeError, KeyError, IndexError)

Input = Literal["aiter", "iter", "stream"]
Output = Literal["yield", "send", "put", "list"]

#: Where a loop's items come from: an async iterator, a sync iterable, a memory stream.
INPUTS: tuple[Input, ...] = ("aiter", "iter", "stream")
#: Where they go: an async generator's ``yield``, a memory stream, ``await put(x)``, a list.
OUTPUTS: tuple[Output, ...] = ("yield", "send", "put", "list")


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What one kernel kind does with an item (the rows of the table above).

    ``calls``: how ``fn`` is called (``"call"``, ``"await"``, or ``None`` for no call);
    ``result``: what becomes of its result (``"item"``: it replaces the item, ``"keep"``:
    its truth decides whether the item goes on); ``drop``: the stats reason of a drop
    (``None``: this kind never drops); ``maybe_awaitable``: a sync call whose result is
    awaited when it is awaitable; ``limit``: ``arg`` bounds how many items pass.
    """

    kind: str
    calls: Literal["call", "await"] | None
    result: Literal["item", "keep"] | None
    drop: str | None = None
    maybe_awaitable: bool = False
    limit: bool = False

    @property
    def awaits(self) -> bool:
        """True when the kind may await per item."""
        return self.calls == "await" or self.maybe_awaitable


#: The instruction set: every kernel kind the runner fuses.
KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec("map", "call", "item"),
        KindSpec("amap", "await", "item"),
        KindSpec("filter", "call", "keep", drop="filtered", maybe_awaitable=True),
        KindSpec("afilter", "await", "keep", drop="filtered"),
        KindSpec("parse", "call", "item", drop="malformed"),
        KindSpec("take", None, None, limit=True),
    )
}


def drop_reason(kind: str) -> str:
    """The reason under which a kernel of ``kind`` counts its drops in ``stats()``."""
    return KINDS[kind].drop or "dropped"


def _check_shape(kinds: Sequence[str], source: str, output: str) -> None:
    if source not in INPUTS or output not in OUTPUTS:
        raise ValueError(f"no fused loop from {source!r} to {output!r}")
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(
                f"unknown kernel kind {kind!r}; expected one of {', '.join(map(repr, KINDS))}"
            )


class Chain:
    """The kernels of one loop, applied to one item at a time, counting into ``cnt``.

    ``cnt`` holds ``len(kernels) + 1`` StageCounts (see "Counters" above).

    ``await chain.apply(x)`` runs every kernel on ``x``; ``chain.done`` turns true once a
    ``take`` is satisfied (the loop then ends after the item in hand). Used by
    :func:`interpret` and by the acknowledging loop of ``acks.py``.
    """

    __slots__ = ("cnt", "done", "kernels", "m", "passed")

    def __init__(self, kernels: Sequence[Kernel], cnt: Sequence[StageCounts]) -> None:
        if len(cnt) != len(kernels) + 1:
            raise ValueError(
                f"a loop of {len(kernels)} kernel(s) counts into {len(kernels) + 1} StageCounts "
                f"(one per kernel and one for its output), got {len(cnt)}"
            )
        self.kernels = kernels
        self.cnt = cnt
        self.m = len(kernels)
        self.passed = [0] * self.m  # items past each take
        self.done = any(k.kind == "take" and k.arg <= 0 for k in kernels)

    async def apply(self, x: Any) -> tuple[bool, Any]:
        """``(True, result)``, or ``(False, None)`` when a kernel dropped ``x``."""
        cnt = self.cnt
        for i, kernel in enumerate(self.kernels):
            counts = cnt[i]
            counts.received += 1
            spec = KINDS[kernel.kind]
            if spec.limit:
                self.passed[i] += 1
                if self.passed[i] >= kernel.arg:
                    self.done = True
                continue
            try:
                r = kernel.fn(x)
                if spec.calls == "await" or (spec.maybe_awaitable and _awaitable(r)):
                    r = await r
            except Exception as exc:
                if spec.drop == "malformed" and isinstance(exc, MALFORMED):
                    counts.malformed += 1
                    return False, None
                add_operator_note(exc, kernel.name)
                raise
            if spec.calls == "call":
                # What the fused loops check too (fuse.py): a plain function's result
                # that needs awaiting, a predicate's async generator object.
                if spec.result == "item":
                    refuse_unawaited(kernel.arg or kernel.kind, "fn", kernel.name, r)
                elif r is not True and r is not False:
                    refuse_async_gen_result(kernel.arg or "where", "predicate", kernel.name, r)
            if spec.result == "item":
                x = r
            elif not r:
                counts.filtered += 1  # the only kinds that keep by truth: filter, afilter
                return False, None
        cnt[self.m].received += 1
        return True, x


def _awaitable(r: Any) -> bool:
    return r is not True and r is not False and inspect.isawaitable(r)


_END = object()


def interpret(
    kernels: Sequence[Kernel], source: str, output: str, *, stoppable: bool = False
) -> Callable[..., Any]:
    """Return ``seg(src, out, cnt, st, close_upstream)`` running ``kernels`` one by one.

    The same contract as ``fuse.compile_kernels`` (an async generator function for output
    ``"yield"``, a coroutine function otherwise), with the same items, counters, stop
    and ``take`` behaviour, written as a plain loop.
    """
    _check_shape([k.kind for k in kernels], source, output)
    has_take = any(k.kind == "take" for k in kernels)
    # See "Stop" in the module docstring (an async source checks in StopState.pull).
    sync_checks_first = stoppable and source == "iter" and (has_take or output == "yield")
    shielded = stoppable and output != "yield" and source in ("iter", "aiter")

    def puller(src: Any, st: Any) -> Callable[[], Any]:
        """``await pull()``: the next item, or ``_END`` (end of input, or stopped first)."""
        if source == "aiter":
            anext = src.__anext__

            async def pull_async() -> Any:
                try:
                    x = await st.pull(anext) if stoppable else await anext()
                except StopAsyncIteration:
                    return _END
                return _END if x is STOPPED else x

            return pull_async
        if source == "iter":
            nxt = iter(src).__next__
            checkpoint = native_checkpoint()
            tick = 0

            async def pull_sync() -> Any:
                nonlocal tick
                if sync_checks_first and st.stopping:
                    return _END
                try:
                    x = nxt()
                except StopIteration:
                    return _END
                tick += 1
                if tick >= CHECKPOINT_EVERY:
                    tick = 0
                    # Not a wait inside the source: ``x`` is in hand, so a stop must not
                    # cancel this (``pulling`` stays false); the flag is seen right after.
                    await checkpoint()
                return x

            return pull_sync

        async def pull_stream() -> Any:
            try:
                return await src.receive()
            except EndOfStream:
                return _END

        return pull_stream

    async def finish(chain: Chain, src: Any, close_upstream: Callable[[], Any]) -> None:
        if chain.done:  # take() is satisfied: close the upstream now
            if source == "stream":
                src.close()
            else:
                await close_upstream()

    if output == "yield":

        async def seg_yield(
            src: Any,
            out: Any,
            cnt: Sequence[StageCounts],
            st: Any,
            close_upstream: Callable[[], Any],
        ) -> AsyncIterator[Any]:
            chain = Chain(kernels, cnt)
            pull = puller(src, st)
            while not chain.done:
                x = await pull()
                if x is _END:
                    break
                keep, x = await chain.apply(x)
                if keep:
                    yield x
            await finish(chain, src, close_upstream)

        return seg_yield

    async def seg(
        src: Any, out: Any, cnt: Sequence[StageCounts], st: Any, close_upstream: Callable[[], Any]
    ) -> None:
        chain = Chain(kernels, cnt)
        pull = puller(src, st)
        if output == "send":
            deliver = out.send
        elif output == "put":
            deliver = out
        else:
            append = out.append

            async def deliver(x: Any) -> None:
                append(x)

        async def handle(x: Any) -> None:
            keep, x = await chain.apply(x)
            if keep:
                await deliver(x)

        while not chain.done:
            x = await pull()
            if x is _END:
                break
            if shielded and st.stopping:
                # Finish the item in hand, then stop (see "Stop" above).
                await st.finish_item(handle, x)
                break
            await handle(x)
        await finish(chain, src, close_upstream)

    return seg
