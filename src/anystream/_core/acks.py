"""Acknowledgements: telling a replayable source which items are fully handled.

A source that can replay (a Redis stream read by a consumer group, a queue with
visibility timeouts) yields :class:`Acked` items: the value plus an ``ack`` callback
and, optionally, a ``nack``. The runner calls ``ack`` exactly once for an item when it
has been *fully handled* by the end of the pipeline, which means one of:

- delivered to the consumer: with ``async for``, when the consumer asks for the next item
  (its loop body for this one completed) or the loop ends normally; with ``collect()``,
  when it is appended to the result list (so a long or endless ``collect()`` acknowledges
  as it goes; if the run then fails, the list is lost with the error but its items stay
  acknowledged: put effects that must not be lost in a stage or a sink, not in the list);
- filtered out (``where``), rejected as malformed (``parse``), dropped by an error policy
  (``on_error="drop"``) or dead-lettered (``on_error=callable``, after the callable
  returned);
- folded into a window that was itself fully handled (delivered, as above);
- for an item fanned out into several (a window's tokens, a stage that emits one item
  per input), when all of them are.

It is never called for an item still in flight when the run ends by an abort (an error,
cancellation, a second Ctrl-C, an expired grace period, the consumer leaving early):
``nack(reason)`` is called for each of those instead, if given, so a replayable source can
redeliver them. A graceful stop drains, so every item the source handed over is acked.
That is at-least-once delivery: after an abort, items whose effects may already have
happened downstream are replayed; make the sink idempotent (``SeenKeys``) for
effectively-once results.

Callbacks are plain functions called from the event loop; they must not block (record or
enqueue the id and acknowledge in batches from the source's own task; see the Redis
connector). An exception from a callback ends the run.

Which operators propagate acknowledgements: every fused per-item operator (``map``,
``parse``, ``where``, ``take``, ``map_async``), ``buffered`` with ``overflow="block"``,
``map_async`` at any concurrency, and ``tumbling_window`` (processing time). Others
raise a clear error when an acknowledged source reaches them, rather than acknowledging
wrongly; they declare support by providing a ``tracked`` implementation.

In *tracked* mode items travel between tasks as ``(value, token)`` pairs and the fused
per-item operators run in the interpreted loop below rather than in generated code: a
source that needs acknowledgements is bounded by the I/O it acknowledges, not by a few
hundred nanoseconds per item. Streams without an acknowledged source never see any of
this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from anyio import WouldBlock
from anyio.lowlevel import checkpoint

from .handoff import END, receive_or_end
from .kernels import Chain
from .operator import Kernel
from .poll import WAIT, poll
from .shutdown import STOPPED, StopState
from .stats import StageCounts

__all__ = ["Acked", "Token", "Tokens", "tracked_loop"]

T_co = TypeVar("T_co", covariant=True)


class Acked(Generic[T_co]):
    """An item from an acknowledged source: ``value`` plus its callbacks."""

    __slots__ = ("ack", "dead", "nack", "value")

    def __init__(
        self,
        value: T_co,
        ack: Callable[[], object],
        nack: Callable[[BaseException | None], object] | None = None,
        dead: Callable[[BaseException], object] | None = None,
    ) -> None:
        self.value: T_co = value
        self.ack: Callable[[], object] = ack
        self.nack: Callable[[BaseException | None], object] | None = nack
        # Called (before ``ack``) when an error policy dead-letters the item, with the
        # error: a durable source records the letter before it acknowledges the item.
        self.dead: Callable[[BaseException], object] | None = dead

    def __repr__(self) -> str:
        return f"Acked({self.value!r})"


class Token:
    """The acknowledgement state of one source item within one run."""

    __slots__ = ("_ack", "_dead", "_live", "_nack", "_pending")

    def __init__(
        self,
        ack: Callable[[], object],
        nack: Callable[[BaseException | None], object] | None,
        live: set[Token],
        dead: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._ack = ack
        self._nack = nack
        self._dead = dead
        self._pending = 1
        self._live = live
        live.add(self)

    def hold(self, n: int = 1) -> None:
        """The item fanned out into ``n`` more pieces, each to be ``done()`` separately."""
        self._pending += n

    def done(self) -> None:
        """One piece of this item was fully handled; ack when every piece was."""
        self._pending -= 1
        if self._pending == 0:
            self._live.discard(self)
            self._ack()

    def dead_letter(self, error: BaseException) -> None:
        """An error policy dead-lettered this item (or a piece of it): tell the source; done."""
        if self._dead is not None:
            self._dead(error)
        self.done()

    def abandon(self, reason: BaseException | None) -> None:
        """The run ended by an abort with this item in flight: nack it."""
        self._live.discard(self)
        self._pending = -1
        if self._nack is not None:
            self._nack(reason)


class Tokens:
    """The tokens of everything folded into one emitted item (a window)."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: Sequence[Token | Tokens]) -> None:
        self._tokens = tokens

    def done(self) -> None:
        for token in self._tokens:
            token.done()


def _open_tracked_source(
    kind: str, it: Any, live: set[Token], name: str, stop: Any
) -> AsyncIterator[tuple[Any, Token]]:
    """Turn a source of :class:`Acked` items into ``(value, token)`` pairs."""

    def wrap(item: Any) -> tuple[Any, Token]:
        if not isinstance(item, Acked):
            raise TypeError(
                f"{name}: an acknowledged source must yield anystream.Acked items, "
                f"got {type(item).__name__}"
            )
        return item.value, Token(item.ack, item.nack, live, item.dead)

    owned = kind == "stream"
    if owned:  # a task source: its items arrive through a memory stream
        it = _from_stream(it)
        kind = "aiter"
    if kind == "iter":

        async def from_sync(source: Iterator[Any]) -> AsyncIterator[tuple[Any, Token]]:
            # The stop is checked before each pull: an item pulled after it would be
            # neither acked nor nacked (nothing downstream would ever see it).
            pull = source.__next__
            while not stop.stopping:
                try:
                    item = pull()
                except StopIteration:
                    return
                yield wrap(item)
                await checkpoint()

        return from_sync(it)

    async def from_async(source: AsyncIterator[Any]) -> AsyncIterator[tuple[Any, Token]]:
        # The same stop protocol as the fused loops (StopState.pull, shutdown.py): a stop
        # may cancel only the wait inside the source.
        anext = source.__anext__
        try:
            while True:
                try:
                    item = await stop.pull(anext)
                except StopAsyncIteration:
                    return
                if item is STOPPED:
                    return
                yield wrap(item)
        finally:
            if owned:
                # Made here, so closed here: closing only this generator would leave
                # _from_stream suspended, to be finalised by the garbage collector (a
                # ResourceWarning on trio, and its receive stream closed late).
                await source.aclose()  # type: ignore[attr-defined]

    return from_async(it)


async def _from_stream(rx: Any) -> AsyncIterator[Any]:
    # Closing the receive side when iteration ends (a take() was satisfied) tells the
    # upstream task at once that nobody will read further.
    try:
        while True:
            item = poll(rx)
            if item is WAIT:
                item = await receive_or_end(rx)
            if item is END:
                return
            yield item
    finally:
        rx.close()


def tracked_loop(
    kernels: Sequence[Kernel],
    source: tuple[str, Any],
    output: tuple[str, Any],
    counts: Sequence[StageCounts],
    stop: Any,
    live: set[Token],
    source_name: str,
    *,
    is_source: bool,
    task_source: bool = False,
) -> Any:
    """The interpreted equivalent of a fused loop, carrying a token beside each item.

        Returns a coroutine (output ``"send"`` or ``"list"``) or an async generator (output
        ``"yield"``). ``counts`` is what a fused loop counts into: one StageCounts per kernel and
    one for the loop's output (see kernels.py).
    """
    kind, it = source
    if is_source:
        # A task source stops by itself; only an iterated source needs the stop flags
        # (the task's items are pulled through a StopState that is never stopped).
        flags = StopState() if task_source else stop
        pairs = _open_tracked_source(kind, it, live, source_name, flags)
    else:
        pairs = _from_stream(it)
    out_kind, out = output

    chain = Chain(kernels, counts)  # what the kernels do: kernels.py

    async def apply(x: Any, token: Any) -> tuple[bool, Any]:
        """Run the kernels on ``x``; (False, None) when an operator dropped it."""
        keep, y = await chain.apply(x)
        if not keep:
            token.done()
        return keep, y

    def satisfied() -> bool:
        """A take() is satisfied: the loop ends after the item in hand."""
        return chain.done

    if out_kind == "yield":

        async def generate() -> AsyncIterator[Any]:
            try:
                if satisfied():
                    return
                async for x, token in pairs:
                    keep, y = await apply(x, token)
                    if keep:
                        yield y
                        # The consumer came back for the next item: its loop body for
                        # this one completed, so the item was fully handled.
                        token.done()
                    if satisfied():
                        break
            finally:
                await pairs.aclose()  # type: ignore[attr-defined]

        return generate()

    async def drive() -> None:
        async def handle(x: Any, token: Any) -> None:
            keep, y = await apply(x, token)
            if not keep:
                return
            if out_kind == "list":
                out.append(y)
                token.done()  # in the result list: delivered (see the module docstring)
            elif out_kind == "send":
                await _send_pair(out, (y, token))
            else:
                raise ValueError(
                    "acknowledged sources support buffered() only with overflow='block'"
                )

        try:
            if satisfied():
                return
            async for x, token in pairs:
                if is_source and not task_source and stop.stopping:
                    # A stop may have cancelled this task's source scope after the source
                    # had already produced ``x`` (the cancellation is delivered at the next
                    # wait): finish this item shielded from the stop (not from an abort:
                    # shutdown.py) so it is not lost, then stop.
                    await stop.finish_item(handle, x, token)
                    break
                await handle(x, token)
                if satisfied():
                    break
        finally:
            await pairs.aclose()  # type: ignore[attr-defined]

    return drive()


async def _send_pair(stream: Any, pair: tuple[Any, Any]) -> None:
    try:
        stream.send_nowait(pair)
    except WouldBlock:
        await stream.send(pair)


class RunTracking:
    """Acknowledgement state of one run whose source acknowledges items: the live tokens."""

    def __init__(self, source_name: str, *, task_source: bool) -> None:
        self.live: set[Token] = set()
        self.source_name = source_name
        self.task_source = task_source  # its items arrive through a memory stream

    def abandon(self, reason: BaseException | None) -> None:
        """Nack every item still in flight (the run was aborted or failed)."""
        for token in list(self.live):
            token.abandon(reason)


def require_tracking(names: Iterable[str]) -> None:
    """Raise for operators that cannot carry acknowledgements."""
    names = list(names)
    if names:
        raise TypeError(
            "this stream's source acknowledges items, but these operators do not propagate "
            f"acknowledgements yet: {', '.join(names)} (see anystream._core.acks)"
        )
