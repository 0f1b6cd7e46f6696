"""One upstream run feeding several consumers: ``share`` and ``broadcast``.

A :class:`Stream` is cold: every run opens its source afresh. ``share(stream)`` returns a
stream whose runs (*subscriptions*) all attach to **one** run of ``stream``, and
``broadcast(stream, n)`` returns ``n`` such streams that start the shared run only once
all ``n`` have subscribed, so that none of them misses the first items.

Semantics (the same for both functions)
---------------------------------------
* **Start.** The upstream run starts when a subscription makes the number of attached
  subscribers reach ``start_at`` (1 for ``share``, ``n`` for ``broadcast``). It runs in
  the task of that subscription.
* **Late subscribers** see only the items the upstream emits after they attached; there
  is no replay (RxJS ``share()``, Kotlin ``SharedFlow`` with ``replay = 0``).
* **Each subscriber has its own bounded buffer** of ``buffer`` items (plus the one item
  being handed to its consumer, and whatever its own operators hold). ``on_slow`` says
  what happens when an item arrives for a subscriber whose buffer is full:
  ``"wait"`` (default: backpressure, the upstream waits, so the slowest subscriber sets
  the pace and nothing is lost), ``"drop_oldest"`` (the oldest buffered item of that
  subscriber is discarded) or ``"drop_newest"`` (the new item is not given to that
  subscriber). Every discarded item is counted in that subscription's stats under the
  reason ``"slow consumer"``: ``sub.stats()["share"].dropped``.
* **Completion and errors reach every subscriber.** When the upstream ends, each attached
  subscriber emits what is in its buffer and ends; when it fails, each one emits its
  buffer and then raises the upstream's exception (the same exception object, with the
  notes of the upstream's operators).
* **One subscriber leaving** (``break``, ``take``, an error in its consumer, a graceful
  stop) detaches only that subscriber; the others go on. When the last subscriber leaves,
  the upstream run is closed (RxJS ``share``'s reference count reaching zero; Kotlin
  ``SharingStarted.WhileSubscribed()``).
* **Reset.** After the upstream ended, failed or lost its last subscriber, the next
  subscription that reaches ``start_at`` starts a fresh run of ``stream``.
* **Ownership.** Structured concurrency: the upstream run needs a task to live in. By
  default it is the task of the subscription that started it; if that subscriber leaves
  while others are still attached, the upstream goes on feeding them and the leaving
  subscription's ``async with`` (or ``collect()``) returns only once the last subscriber
  has left. When subscribers come and go independently, *open* the shared stream
  instead: inside ``async with shared:`` the upstream runs in a task of that block
  (Kotlin's ``shareIn(scope)``), every subscriber leaves at once, and leaving the block
  closes the upstream (attached subscribers then end after their buffers)::

      shared = share(stream)
      async with shared, anyio.create_task_group() as tg:
          tg.start_soon(consume, shared)
          first = await (shared | take(1)).collect()   # returns at once
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, cast

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._core.callables import check_choice, check_int
from .._core.handoff import send
from .._core.operator import StageContext, StagedStep
from .._core.owned import Owned
from .._core.source import IterableSource
from .._core.stats import OpStats, StageCounts
from .._core.stream import Stream
from .combine import _check_streams

__all__ = ["Shared", "broadcast", "share"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

SlowPolicy = Literal["wait", "drop_oldest", "drop_newest"]

#: The stats reason for items a subscriber's full buffer could not take.
SLOW = "slow consumer"

_POLICIES: tuple[SlowPolicy, ...] = ("wait", "drop_oldest", "drop_newest")


class _Subscriber:
    """One subscription's buffer, counters and wake-up events."""

    __slots__ = ("counts", "ended", "error", "items", "room", "stats", "wake")

    def __init__(self, stats: OpStats, counts: StageCounts) -> None:
        self.items: deque[Any] = deque()
        self.stats: OpStats = stats
        self.counts: StageCounts = counts
        self.ended: bool = False
        self.error: BaseException | None = None
        self.wake: anyio.Event = anyio.Event()  # set when an item or the end arrives
        self.room: anyio.Event = anyio.Event()  # set when an item left the buffer (or detached)

    def end(self, error: BaseException | None) -> None:
        if not self.ended:
            self.ended = True
            self.error = error
        self.wake.set()
        self.room.set()


class _Hub:
    """The shared state of one ``share()`` / ``broadcast()``: its subscribers and its run."""

    def __init__(
        self, stream: Stream[Any], *, buffer: int, on_slow: SlowPolicy, start_at: int
    ) -> None:
        self.stream: Stream[Any] = stream
        self.buffer: int = buffer
        self.on_slow: SlowPolicy = on_slow
        self.start_at: int = start_at
        self.subscribers: list[_Subscriber] = []
        self.scope: CancelScope | None = None  # the running upstream's, None when idle
        self.host: TaskGroup | None = None  # the task group of ``async with shared:``
        self._owned = Owned()  # holds host open from open() to close()

    def attach(self, stats: OpStats, counts: StageCounts) -> tuple[_Subscriber, bool]:
        """Add a subscriber; True as second value if the caller must run the upstream."""
        sub = _Subscriber(stats, counts)
        self.subscribers.append(sub)
        start = self.scope is None and len(self.subscribers) >= self.start_at
        if start:
            self.scope = CancelScope()
            if self.host is not None:  # opened: the block's task group runs it
                self.host.start_soon(self.pump, False, name="anystream share upstream")
                return sub, False
        return sub, start

    def detach(self, sub: _Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
        sub.end(sub.error)
        if not self.subscribers and self.scope is not None:
            # The last subscriber left: close the upstream run. The hub is idle at once,
            # so that a subscriber arriving while that run closes starts a fresh one.
            self.scope.cancel()
            self.scope = None

    async def pump(self, shielded: bool = True) -> None:
        """Run the upstream once and hand each item to every attached subscriber.

        In a subscription's task it is shielded from that subscription's cancellation: it
        ends when the upstream ends or fails, or when the last subscriber has left
        (``detach``). In the task group of ``async with shared:`` it is not: leaving the
        block ends it too.
        """
        scope = self.scope
        assert scope is not None
        error: BaseException | None = None
        with CancelScope(shield=shielded):
            try:
                with scope:
                    async with self.stream.stream() as items:
                        async for item in items:
                            if self.scope is not scope:  # left by all: a new run may go
                                break
                            await self._publish(item)
            except Exception as exc:
                error = exc
            finally:
                if self.scope is scope:  # not superseded: end this run's subscribers
                    subscribers, self.subscribers = self.subscribers, []
                    self.scope = None
                    for sub in subscribers:
                        sub.end(error)

    async def _publish(self, item: Any) -> None:
        for sub in list(self.subscribers):
            while self.on_slow == "wait" and len(sub.items) >= self.buffer and not sub.ended:
                sub.room = anyio.Event()
                await sub.room.wait()
            if sub.ended:  # left (or stopped) meanwhile: the item is not its any more
                continue
            sub.counts.received += 1
            if len(sub.items) >= self.buffer:
                sub.stats.drop(SLOW)
                if self.on_slow == "drop_newest":
                    continue
                sub.items.popleft()
            sub.items.append(item)
            sub.wake.set()

    async def open(self) -> None:
        if self.host is not None:
            raise RuntimeError(
                "share(): this shared stream is already open; enter it with async with once"
            )
        self.host = await self._owned.enter(anyio.create_task_group())

    async def close(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        host, self.host = self.host, None
        assert host is not None
        host.cancel_scope.cancel()  # the upstream, if it runs: its subscribers then end
        return await self._owned.exit(exc_type, exc, tb)

    def subscription(self, name: str) -> Shared[Any]:
        """A stream each run of which is one subscription to this hub."""
        hub = self

        async def run(
            rx: MemoryObjectReceiveStream[Any],
            tx: MemoryObjectSendStream[Any],
            ctx: StageContext,
        ) -> None:
            sub, owner = hub.attach(ctx.stats, ctx.counts)
            async with anyio.create_task_group() as tg:
                if owner:
                    tg.start_soon(hub.pump, name=f"anystream {name} upstream")
                try:
                    if ctx.stop is not None:
                        tg.start_soon(_detach_on_stop, hub, sub, ctx, name=f"anystream {name}")
                    await _deliver(sub, tx, ctx.counts)
                finally:
                    hub.detach(sub)
                    tg.cancel_scope.cancel()  # the stop watcher (the pump is shielded)

        return Shared(self, IterableSource((), f"{name} subscription"), (StagedStep(name, run),))


class Shared(Stream[T_co]):
    """The stream :func:`share` and :func:`broadcast` return: each run is a subscription.

    Also an async context manager: inside ``async with shared:`` the shared upstream runs
    in a task of that block rather than in the task of the subscription that started it
    (see the module docstring, "Ownership"). The streams of one ``broadcast`` share one
    upstream: open any one of them.
    """

    __slots__ = ("_hub",)

    def __init__(self, hub: _Hub, source: Any, steps: tuple[Any, ...]) -> None:
        super().__init__(source, steps)
        self._hub = hub

    async def __aenter__(self) -> Self:
        await self._hub.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return await self._hub.close(exc_type, exc, tb)


async def _detach_on_stop(hub: _Hub, sub: _Subscriber, ctx: StageContext) -> None:
    assert ctx.stop is not None
    await ctx.stop.wait()
    hub.detach(sub)  # a graceful stop: deliver what is buffered, then end


async def _deliver(sub: _Subscriber, tx: MemoryObjectSendStream[Any], counts: StageCounts) -> None:
    while True:
        if sub.items:
            item = sub.items.popleft()
            sub.room.set()
            await send(tx, item)
            counts.emitted += 1
            continue
        if sub.ended:
            if sub.error is not None:
                raise sub.error
            return
        sub.wake = anyio.Event()
        await sub.wake.wait()


def _check(op: str, stream: object, buffer: object, on_slow: object) -> tuple[int, SlowPolicy]:
    _check_streams(op, [stream], first=1)
    size = check_int(op, "buffer", buffer, minimum=1)
    policy = cast(SlowPolicy, check_choice(op, "on_slow", on_slow, _POLICIES))
    return size, policy


def share(stream: Stream[T], *, buffer: int = 16, on_slow: SlowPolicy = "wait") -> Shared[T]:
    """A stream whose every run attaches to one shared, running run of ``stream``.

    ::

        stream   -a--b--c--d--|        s = share(stream)
        sub 1    -a--b--c--d--|        (subscribed at 0: starts the upstream)
        sub 2    ------c--d--|         (subscribed at 5: no replay of a, b)

    Each run (``s.stream()``, ``s.collect()``) is a *subscription*. The first one starts
    the upstream run; later ones see the items emitted after they attached. Every
    subscriber has its own buffer of ``buffer`` items (>= 1); ``on_slow`` decides what
    happens when an item arrives for a subscriber whose buffer is full: ``"wait"``
    (default, backpressure: the slowest subscriber sets the pace), ``"drop_oldest"`` or
    ``"drop_newest"``, each discarded item counted in that subscription's stats
    (``stats()["share"].dropped["slow consumer"]``). The end and the error of the
    upstream reach every attached subscriber after its buffer; a subscriber that leaves
    detaches only itself; when the last one leaves, the upstream run is closed, and a
    later subscription starts a fresh one. The upstream runs in the task of the
    subscription that started it, or, inside ``async with s:``, in a task of that block
    (see the module docstring, "Ownership"). RxJS ``share()``;
    Kotlin ``shareIn(scope, SharingStarted.WhileSubscribed())``; aiostream has none (asked
    for in its tracker, issues 35 and 55, with the same backpressure by default).
    """
    size, policy = _check("share", stream, buffer, on_slow)
    hub = _Hub(stream, buffer=size, on_slow=policy, start_at=1)
    return hub.subscription("share")


def broadcast(
    stream: Stream[T], n: int, *, buffer: int = 16, on_slow: SlowPolicy = "wait"
) -> tuple[Shared[T], ...]:
    """``n`` streams fed by one run of ``stream``, which starts once all ``n`` subscribed.

    ::

        stream   -a--b--|               a1, a2 = broadcast(stream, 2)
        a1       -a--b--|               (both receive every item, from the first one)
        a2       -a--b--|

    The upstream starts when ``n`` subscriptions are attached (until then the early ones
    wait), so that no consumer misses an item: run the ``n`` consumers concurrently.
    Buffers, ``on_slow``, completion, errors and a consumer leaving are as for
    :func:`share` (stats key ``"broadcast"``); after the run ended, ``n`` new
    subscriptions start a fresh one. RxJS ``share()`` over a ``connectable`` connected
    after the subscriptions; Kotlin ``shareIn(scope, SharingStarted.Eagerly)`` started
    after the collectors; ``itertools.tee`` for iterators.
    """
    count = check_int("broadcast", "n", n, minimum=1)
    size, policy = _check("broadcast", stream, buffer, on_slow)
    hub = _Hub(stream, buffer=size, on_slow=policy, start_at=count)
    return tuple(hub.subscription("broadcast") for _ in range(count))
