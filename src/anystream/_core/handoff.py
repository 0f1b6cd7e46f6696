"""Hand-offs between a pipeline's tasks: bounded memory object streams, used fast.

``await send()`` and ``await receive()`` on an anyio memory object stream are full
scheduler checkpoints, about ten times the cost of an ``asyncio.Queue`` hop (measured in
docs/performance.md). Every hand-off in anystream therefore tries ``send_nowait()`` /
``receive_nowait()`` first and awaits only when the stream is full or empty, i.e. only
when it must wait anyway. The fused loops inline the same pattern (see ``fuse.py``);
the helpers here are for staged operators written by hand.

Skipping the checkpoint is safe for fairness because every stream is bounded: a
producer that never blocks fills the buffer within ``capacity`` items and then waits,
which lets the consumer run.

Overflow policies (``buffered(n, overflow=...)``) are ``put`` functions over the same
streams: they never block and count what they discard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from anyio import (
    BrokenResourceError,
    CancelScope,
    ClosedResourceError,
    EndOfStream,
    Event,
    WouldBlock,
    create_memory_object_stream,
)
from anyio.lowlevel import checkpoint
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._backends import NewEvent, parking
from .stats import OpStats

if TYPE_CHECKING:
    from .shutdown import EndOfInput

__all__ = [
    "END",
    "BoundaryReceive",
    "Demand",
    "DemandReceive",
    "Producer",
    "boundary",
    "demand_link",
    "downstream_left",
    "end_output",
    "make_put",
    "on_demand",
    "parking_receive",
    "receive",
    "receive_fast_path",
    "receive_or_end",
    "send",
    "send_fast_path",
    "send_unless_left",
]

T = TypeVar("T")


class _End:
    def __repr__(self) -> str:
        return "END"


#: What :func:`receive_or_end` returns once the stream has ended.
END: Any = _End()


async def send(stream: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``, awaiting only if the stream is full."""
    try:
        stream.send_nowait(item)
    except WouldBlock:
        pass
    else:
        return
    await stream.send(item)


async def receive(stream: MemoryObjectReceiveStream[T]) -> T:
    """Receive an item, awaiting only if the stream is empty (raises ``EndOfStream``)."""
    try:
        return stream.receive_nowait()
    except WouldBlock:
        pass
    if _can_park(stream):
        return await _park(stream, parking())  # type: ignore[no-any-return]
    return await stream.receive()


async def receive_or_end(stream: MemoryObjectReceiveStream[T]) -> T:
    """Like :func:`receive`, but return :data:`END` instead of raising ``EndOfStream``.

    For worker loops: ``while (item := await receive_or_end(rx)) is not END: ...``.
    """
    try:
        return stream.receive_nowait()
    except WouldBlock:
        pass
    except EndOfStream:
        return END  # type: ignore[no-any-return]
    try:
        if _can_park(stream):
            return await _park(stream, parking())  # type: ignore[no-any-return]
        return await stream.receive()
    except EndOfStream:
        return END  # type: ignore[no-any-return]


# -- the fused loops' inline fast path ---------------------------------------------------
# A method call to ``send_nowait()`` / ``receive_nowait()`` costs ~65 ns each on CPython
# 3.11, most of it attribute lookups repeated for every item; the deque operation
# underneath costs ~15 ns. The fused loops (fuse.py) therefore hold the stream's
# buffer and its queue of parked tasks in locals and touch the deque directly whenever
# no task is parked on the other side; any other case (a parked peer to wake, a full or
# empty buffer, a closed stream) goes through the public method, so the semantics stay
# anyio's. This reads anyio's private ``_state`` (stable since anyio 3.0); if it is not
# there, the helpers return values that make the fast path never apply, and
# tests/_core/test_handoff.py fails so that the slower fallback cannot go unnoticed.

_NEVER: Any = (True,)  # truthy: "a peer is parked", so the loop takes the slow path


class BoundaryReceive(MemoryObjectReceiveStream[T]):
    """The receive side of a boundary: an anyio memory stream that can end in a failure.

    A task that fails does not fail the run at once: it records its error here and
    closes its output, so that the error travels *behind* the items already in the
    buffer, as end-of-stream does (shutdown.py). The receiver meets it exactly where it
    would have met the end of the stream: ``receive_nowait()`` / ``receive()`` raise the
    error instead of ``EndOfStream``, so a window does not flush as if the input had
    ended. A receiver that stops reading before that point (a ``take`` that has its
    items, a consumer that left) never sees it: what the upstream would have raised
    afterwards is not the caller's error, as in a pull-based pipeline.
    """

    failure: BaseException | None = None
    #: Set when this stream hands its end to its reader: the run's end-of-input signal
    #: on the stream the consumer's loop reads (shutdown.EndOfInput), else None.
    end_of_input: EndOfInput | None = None

    def fail(self, error: BaseException) -> None:
        """Record ``error`` as the way this stream ends (the sending task calls this)."""
        self.failure = error

    # The base class's methods are called directly, not through super(): these run for
    # every item a staged operator receives, and the lookup is most of their cost.
    def receive_nowait(self) -> T:
        try:
            return _base_receive_nowait(self)
        except EndOfStream:
            if self.failure is None:
                if self.end_of_input is not None:
                    self.end_of_input.set()
                raise
        raise_failure(self.failure)

    async def receive(self) -> T:
        try:
            return await _base_receive(self)
        except EndOfStream:
            if self.failure is None:
                if self.end_of_input is not None:
                    self.end_of_input.set()
                raise
        raise_failure(self.failure)


class DemandReceive(BoundaryReceive[T]):
    """The receive side of a hand-off that reads nothing ahead (see :func:`demand_link`).

    Every ``receive()`` that finds nothing to take first counts one request, which lets
    the sender pull one item from its source.
    """

    gate: Demand

    async def receive(self) -> T:
        self.gate.request()
        return await BoundaryReceive.receive(self)


class Demand:
    """Requests from a receiver, and the wait of a sender for one it has not served yet.

    ``requests`` counts the receiver's waits; the sender compares it with how many items
    it has handed on (its own counter) and pulls only while a request is outstanding.
    """

    __slots__ = ("_event", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self._event: Event | None = None

    def request(self) -> None:
        self.requests += 1
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, served: Callable[[], int]) -> None:
        """Return once more items were requested than ``served()`` says were sent."""
        while self.requests <= served():
            if self._event is None:
                self._event = Event()
            await self._event.wait()


def demand_link() -> tuple[MemoryObjectSendStream[Any], DemandReceive[Any], Demand]:
    """A rendezvous whose sender pulls from its source only when the receiver asks.

    An ordinary rendezvous reads one item ahead: the sending task pulls its next item
    and then waits for the receiver to take it, so a lazy source has already been asked
    for item ``k + 1`` while the receiver still works on item ``k``. Here the sender
    waits for a request first (:func:`on_demand` wraps its source), then pulls, then
    sends to a receiver that is already waiting.
    """
    tx, rx = boundary(0, DemandReceive)
    rx.gate = Demand()
    return tx, rx, rx.gate


def on_demand(
    source: tuple[str, Any], gate: Demand, served: Callable[[], int]
) -> tuple[str, AsyncIterator[Any]]:
    """``source`` (an ``("iter" | "aiter", iterator)`` pair) pulled only on request.

    ``served()`` is the number of items the sending loop has handed on; items it dropped
    (a ``where``) do not count, so the loop pulls again for the same request.
    """
    kind, it = source
    sync = kind == "iter"
    pull = it.__next__ if sync else None
    anext = None if sync else it.__anext__

    async def pulls() -> AsyncIterator[Any]:
        while True:
            await gate.wait(served)
            try:
                item = pull() if pull is not None else await anext()  # type: ignore[misc]
            except (StopIteration, StopAsyncIteration):
                return
            yield item

    return "aiter", pulls()


_base_receive_nowait = MemoryObjectReceiveStream.receive_nowait
_base_receive = MemoryObjectReceiveStream.receive


def raise_failure(error: BaseException) -> NoReturn:
    """Raise ``error`` where a receiver met it, keeping its own ``__context__``."""
    context = error.__context__
    try:
        raise error
    finally:
        error.__context__ = context


R = TypeVar("R", bound=BoundaryReceive[Any])


@overload
def boundary(capacity: float) -> tuple[MemoryObjectSendStream[Any], BoundaryReceive[Any]]: ...
@overload
def boundary(capacity: float, kind: type[R]) -> tuple[MemoryObjectSendStream[Any], R]: ...
def boundary(
    capacity: float, kind: type[BoundaryReceive[Any]] = BoundaryReceive
) -> tuple[MemoryObjectSendStream[Any], BoundaryReceive[Any]]:
    """A bounded hand-off between two tasks of a run (see :class:`BoundaryReceive`).

    ``kind`` is the receive side's class (:class:`DemandReceive` for :func:`demand_link`).
    """
    tx, plain = create_memory_object_stream[Any](capacity)
    # A second receive side over the same state, then the plain one closed: anyio's
    # streams are dataclasses over a shared state, and this keeps its bookkeeping exact.
    rx = kind(_state=plain._state)
    plain.close()
    return tx, rx


_FAST_RECEIVE = (MemoryObjectReceiveStream, BoundaryReceive)


def receive_fast_path(stream: MemoryObjectReceiveStream[Any]) -> tuple[Any, Any]:
    """``(buffer, waiting_senders)`` of ``stream``'s state, for the inline fast path."""
    state = getattr(stream, "_state", None)
    buffer = getattr(state, "buffer", None)
    waiting = getattr(state, "waiting_senders", None)
    if type(stream) not in _FAST_RECEIVE or buffer is None or waiting is None:
        return (), _NEVER
    return buffer, waiting


# -- parking without the leading checkpoint ---------------------------------------------
# anyio's ``receive()`` starts with a checkpoint, then tries ``receive_nowait()``, and
# parks only if that finds nothing. For a caller that has itself just found the stream
# empty (every loop here tries ``receive_nowait()`` first), the leading checkpoint is a
# scheduler pass that moves no item: when items trickle in one per wake-up, as in a
# service at moderate load, it was a third of a stream-fed task's passes. Parking at
# once is still a checkpoint in the sense that matters (the task blocks, so others run
# and a cancellation is delivered there), and a caller that wants the extra yield while
# items come in batches says so (the fused loops' "patient" receive).
#
# ``_park`` does what the rest of anyio's ``receive()`` does, over the same private
# state the fast path reads (``_state``, ``_closed``, ``_waiters``), so senders, closing
# and ``statistics()`` cannot tell the difference; its event comes from
# ``_backends.parking()``, made cheaply. Where that state is not as expected (another
# anyio), ``parking_receive`` hands out the stream's own ``receive`` and
# tests/_core/test_handoff_park.py fails, so the slower fallback cannot go unnoticed.
#
# One thing it does differently, and more safely. A sender hands an item to the first
# parked receiver whose task has no cancellation pending; anyio's receiver record makes
# that check walk the task's cancel scopes on every hand-off (and building the record,
# a ``TaskInfo``, costs more than the rest of the park). Our receivers answer "none
# pending" at once, and a receiver that is cancelled after all, before it could take
# what it was handed (asyncio delivers a cancellation at the task's next step even when
# its wait has just been satisfied), gives the item back: to the next parked receiver,
# or to the front of the buffer. So a cancellation never loses an item, which anyio's
# check does not promise either (a cancel can land between its check and the wake-up).


class _NoPendingCancellation:
    """The ``task_info`` a sender consults: "no cancellation pending" (see above)."""

    __slots__ = ()

    @staticmethod
    def has_pending_cancellation() -> bool:
        return False


class _Receiver:
    """What a sender looks at in ``waiting_receivers``: anyio's receiver record, slotted."""

    __slots__ = ("item",)

    item: Any  # set by the sender that hands this receiver its item
    task_info = _NoPendingCancellation()


def _can_park(stream: MemoryObjectReceiveStream[Any]) -> bool:
    return (
        type(stream) in _FAST_RECEIVE
        and hasattr(stream, "_waiters")
        and hasattr(getattr(stream, "_state", None), "waiting_receivers")
    )


def _give_back(state: Any, item: Any) -> None:
    """An item handed to a receiver that was cancelled: as its sender would have placed it."""
    waiting = state.waiting_receivers
    while waiting:
        event, receiver = waiting.popitem(last=False)
        if not receiver.task_info.has_pending_cancellation():
            receiver.item = item
            event.set()
            return
    # No one is parked: the buffer was empty when this receiver parked, and senders
    # hand to parked receivers before they buffer, so the item is still the oldest.
    state.buffer.appendleft(item)


async def _park(stream: Any, new_event: NewEvent) -> Any:
    state = stream._state
    # receive_nowait() would raise WouldBlock here (the caller has just seen that): call
    # it only where it would take an item, end the stream or refuse a closed one.
    if state.buffer or state.waiting_senders or stream._closed or not state.open_send_channels:
        return stream.receive_nowait()
    waiters: set[Any] | None = stream._waiters
    if waiters is None:
        waiters = stream._waiters = set[Any]()
    event = new_event()
    waiters.add(event)
    receiver = _Receiver()
    state.waiting_receivers[event] = receiver
    try:
        await event.wait()
    except BaseException:
        try:
            item = receiver.item
        except AttributeError:
            pass
        else:
            state.waiting_receivers.pop(event, None)
            _give_back(state, item)
        raise
    finally:
        state.waiting_receivers.pop(event, None)
        waiters = stream._waiters  # None once the stream was closed
        if waiters is not None:
            waiters.discard(event)
    try:
        return receiver.item
    except AttributeError:
        pass
    if stream._closed:
        raise ClosedResourceError from None
    return stream.receive_nowait()  # the end of the stream (or a boundary's failure)


def parking_receive(stream: MemoryObjectReceiveStream[T]) -> Callable[[], Awaitable[T]]:
    """``stream.receive``, minus its leading checkpoint where the stream allows it.

    The returned callable takes an item if one is there, or parks at once; it raises
    ``EndOfStream`` (or a boundary's failure) at the end, like ``receive()``. Call this
    inside the event loop that will await it (it takes that loop's parking primitives).
    """
    if not _can_park(stream):
        return stream.receive
    new_event = parking()

    def receive() -> Awaitable[T]:
        return _park(stream, new_event)

    return receive


def send_fast_path(stream: MemoryObjectSendStream[Any]) -> tuple[Any, Any, Any, Any]:
    """``(state, buffer, waiting_receivers, capacity)`` for the inline fast path."""
    state = getattr(stream, "_state", None)
    buffer = getattr(state, "buffer", None)
    waiting = getattr(state, "waiting_receivers", None)
    capacity = getattr(state, "max_buffer_size", None)
    if (
        type(stream) is not MemoryObjectSendStream
        or buffer is None
        or waiting is None
        or capacity is None
        or not hasattr(state, "open_receive_channels")
    ):
        return None, (), _NEVER, 0
    return state, buffer, waiting, capacity


async def send_unless_left(stream: MemoryObjectSendStream[T], item: T, scope: CancelScope) -> bool:
    """:func:`send` ``item``; if every receiver has gone, cancel ``scope``, return False.

    For stages whose several tasks send to one output: the consumer going away is a
    quiet stop of them all, not an error. A ``BrokenResourceError`` for any other reason
    propagates.
    """
    try:
        await send(stream, item)
    except BrokenResourceError:
        if downstream_left(stream):
            scope.cancel()
            return False
        raise
    return True


def downstream_left(stream: MemoryObjectSendStream[Any]) -> bool:
    """True when every receive side of ``stream`` is closed: the consumer went away.

    A ``BrokenResourceError`` from our own send then means "stop quietly", not failure.
    """
    return stream.statistics().open_receive_streams == 0


def make_put(
    send_stream: MemoryObjectSendStream[Any],
    receive_stream: MemoryObjectReceiveStream[Any],
    overflow: str,
    stats: OpStats,
) -> Callable[[Any], Awaitable[None]]:
    """An ``async put(item)`` implementing ``overflow`` for a full stream.

    ``drop_newest`` discards the incoming item, ``drop_oldest`` (and ``latest``, which is
    ``drop_oldest`` with room for one) discards the oldest buffered one. Each discard is
    counted on ``stats`` under the reason ``"overflow"`` and is followed by a checkpoint:
    a producer that never blocks would otherwise never let the consumer run.
    """
    send_nowait = send_stream.send_nowait
    receive_nowait = receive_stream.receive_nowait

    if overflow == "drop_newest":

        async def put(item: Any) -> None:
            try:
                send_nowait(item)
            except WouldBlock:
                stats.drop("overflow")
                await checkpoint()

    elif overflow in ("drop_oldest", "latest"):

        async def put(item: Any) -> None:
            try:
                send_nowait(item)
            except WouldBlock:
                try:
                    receive_nowait()
                except WouldBlock:
                    pass
                else:
                    stats.drop("overflow")
                send_nowait(item)
                await checkpoint()

    else:  # pragma: no cover - validated by buffered()
        raise ValueError(f"unknown overflow policy {overflow!r}")
    return put


# -- the end of a producing task ------------------------------------------------------


class Producer:
    """A task of the run and its output, for deciding what is still useful at the end."""

    __slots__ = ("ended", "output", "scope")

    def __init__(self, output: MemoryObjectSendStream[Any]) -> None:
        self.scope = CancelScope()
        self.output = output
        self.ended = False

    def orphaned(self) -> bool:
        """Still producing, but nobody will ever read what it produces.

        A task that closed its output itself (a source that finished producing and now
        flushes its acknowledgements) is not: it is finishing up.
        """
        stats = self.output.statistics()
        return not self.ended and stats.open_send_streams > 0 and stats.open_receive_streams == 0


def end_output(downstream: MemoryObjectSendStream[Any]) -> None:
    """A task ended normally: close its output so end-of-stream travels downstream.

    Only then. After a failure the output stays open (the runner closes it once the task
    group has cancelled everything): an ``EndOfStream`` would make the next stage flush
    partial results (a window, a count) as if the input had simply ended.
    """
    downstream.close()
