"""``poll()``: take the next item of a hand-off without waiting, as one call.

Every hand-written loop that reads a memory object stream tries ``receive_nowait()``
first and awaits ``receive()`` only when the buffer is empty (handoff.py says why). The
inline form of that is eight lines of ``try`` / ``except WouldBlock`` / ``except
EndOfStream``; with :func:`poll` it reads::

    item = poll(rx)
    if item is WAIT:
        item = await receive_or_end(rx)  # the stream is empty: a real wait
    if item is END:
        return

:func:`poll` is a plain function, not a coroutine: awaiting a helper coroutine for every
item would create a coroutine object per item, which costs about as much as the hand-off
itself, while the wait it would save writing is rare on a busy stream. It costs what the
inline idiom costs because, when an item is simply there, it pops it off the stream's
buffer itself, which is exactly what ``receive_nowait()`` does in that case, instead of
calling through ``BoundaryReceive.receive_nowait()`` to anyio's. Every other case (a
parked sender to take from, an empty, ended, failed or closed stream) goes through the
stream's own ``receive_nowait()``, so the semantics stay anyio's and
:class:`~anystream._core.handoff.BoundaryReceive`'s. It takes memory object streams only.

The direct pop reads anyio's private ``_state`` (as the fused loops do, handoff.py);
if a future anyio lacks it, :func:`poll` is the public-method version, and
tests/_core/test_poll.py fails so that the slower fallback cannot go unnoticed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from anyio import EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectReceiveStream

from .handoff import END, BoundaryReceive, DemandReceive

__all__ = ["END", "FAST", "WAIT", "poll"]

T = TypeVar("T")


class _Wait:
    def __repr__(self) -> str:
        return "WAIT"


#: What :func:`poll` returns when the stream is open but has no item ready.
WAIT: Any = _Wait()

# Classes whose receive_nowait() is anyio's as far as handing out a buffered item goes
# (BoundaryReceive differs only at the end of the stream, DemandReceive only in
# receive()). A stream of any other class always goes through its own method.
_PLAIN = frozenset((MemoryObjectReceiveStream, BoundaryReceive, DemandReceive))


def _poll_public(stream: MemoryObjectReceiveStream[T]) -> T:
    """The next item, :data:`WAIT` if none is ready, :data:`END` once the stream ended.

    A failure recorded on a boundary is raised, and so is ``ClosedResourceError`` if
    this receive side was closed, as ``receive_nowait()`` does.
    """
    try:
        return stream.receive_nowait()
    except WouldBlock:
        return WAIT  # type: ignore[no-any-return]
    except EndOfStream:
        return END  # type: ignore[no-any-return]


def _poll_direct(stream: MemoryObjectReceiveStream[T]) -> T:
    """The next item, :data:`WAIT` if none is ready, :data:`END` once the stream ended.

    A failure recorded on a boundary is raised, and so is ``ClosedResourceError`` if
    this receive side was closed, as ``receive_nowait()`` does.
    """
    state = stream._state  # pyright: ignore[reportPrivateUsage]
    buffer = state.buffer
    # The same tests, in the same order, as anyio's receive_nowait() before it pops.
    if (
        buffer
        and not state.waiting_senders
        and not stream._closed  # pyright: ignore[reportPrivateUsage]
        and stream.__class__ in _PLAIN
    ):
        return buffer.popleft()
    try:
        return stream.receive_nowait()
    except WouldBlock:
        return WAIT  # type: ignore[no-any-return]
    except EndOfStream:
        return END  # type: ignore[no-any-return]


def _has_state() -> bool:
    from anyio import create_memory_object_stream

    tx, rx = create_memory_object_stream[Any](1)
    try:
        state = getattr(rx, "_state", None)
        return (
            hasattr(rx, "_closed")
            and hasattr(state, "buffer")
            and hasattr(state, "waiting_senders")
            and hasattr(getattr(state, "buffer", None), "popleft")
        )
    finally:
        tx.close()
        rx.close()


#: Whether :func:`poll` takes buffered items directly (False: the public-method version).
FAST = _has_state()

poll = _poll_direct if FAST else _poll_public
