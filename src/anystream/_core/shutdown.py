"""How a run ends: end of input, graceful stop, abort.

Every pipeline ends in one of three ways, and the difference between the last two is the
reason this module exists.

**End of input.** The source is exhausted. The segment that owns it closes its output
stream; the next stage's ``receive()`` raises ``EndOfStream`` once the buffer is empty,
so it finishes its own work (a window flushes its partial window) and closes *its*
output; and so on down to the consumer, whose ``async for`` ends. Nothing is lost because
nothing was interrupted: end-of-stream travels *behind* the last item in every buffer.

**Graceful stop** (``run.stop()``, or the first SIGINT/SIGTERM when the run handles
signals). The obvious implementation, cancelling the pipeline's tasks, is wrong: a task
cancelled inside ``await send(item)`` loses ``item``, and closing a receive stream
discards whatever is buffered in it. So a graceful stop *only stops the source*, and
then lets end of input do the rest. Concretely the runner sets ``StopState.stopping``,
which the source's loop checks before pulling each item, and if the source task is at
that moment waiting *inside the source* (``StopState.pulling``), it cancels the source's
own cancel scope. That scope encloses the source loop but the loop only ever waits
there in two places: inside the source (cancelling loses nothing that was pulled: the
source's ``finally`` runs and it is done) or inside a hand-off to the next stage (never
cancelled: the flag is seen right after the send completes). Everything already pulled
flows through to the consumer, windows flush, and iteration ends normally. Any other
wait with an item in hand (a sync source's checkpoint every ``CHECKPOINT_EVERY`` items)
is not "inside the source": ``pulling`` stays false there and the flag is seen right
after. Every loop that waits inside its source pulls through :meth:`StopState.pull` (the
generated loops inline it), which is this paragraph in code; a sync source's pull does
not wait, so its loop just checks the flag first.

Two consequences. The source must be alone in that cancel scope, so when generator
operators follow the source the runner puts a rendezvous between them. And a pipeline
without any staged operator runs entirely in the consumer's task, where no cancel scope
can be held across the consumer's ``yield``: there a stop takes effect before the next
item is pulled, which is immediate when requested from the consumer's own loop. Ask for
``stream(handle_signals=True)`` (or add any staged operator) to make a source that may
block for a long time interruptible from other tasks too.

**Abort** (``run.abort()``; a second signal; a grace period expiring; an unhandled
error; the consumer leaving the ``async with`` early). The runner cancels its task group.
Every task unwinds, the runner closes every memory stream and ``aclose()``-s every
generator it created, downstream first so each upstream's ``finally`` runs after its
consumer's. This close is explicit: neither asyncio nor trio closes an abandoned async
generator promptly, and on asyncio a task cancelled before its first step never runs its
body, so its own ``finally`` never runs. Items in flight are discarded; an error that
caused the abort is re-raised (unwrapped, see ``errors.py``), a second Ctrl-C raises
``KeyboardInterrupt``, an expired grace period raises :class:`Aborted`.

**An abort always ends the run.** This is the rule every wait in the runner is held to:
once an abort is requested, the run ends as soon as the user code *already running*
returns (one scheduler pass when none is), whatever the pipeline is doing. The only
waits allowed after an abort are waits on code that cannot be interrupted and belongs to
the user: a call in progress in a worker thread or process (``map_thread`` and
``map_process`` wait for those unless told ``abandon_on_cancel=True`` /
``kill_on_cancel=True``), a generator's own ``finally``. No wait of the runner's may
depend on another task of the same run once the abort is under way, and a shield is the
easy way to break that: the graceful stop's finish of the item in hand is a send, and a
send waits for a reader. So that shield comes from :meth:`StopState.finishing` (through
:meth:`StopState.finish_item`, the one way a loop finishes the item in hand), which
keeps the *stop's* cancellation out but is cancelled by :meth:`StopState.abort`, and once
the consumer has left its loop the runner closes the consumer's side of its hand-off, so
a sender still parked on it fails at once instead of waiting for a reader that is gone.
(A pipeline with no staged operator has no task to cancel: it is the consumer's own loop,
and the abort takes effect before its next pull.) What an abort throws away is counted,
never lost silently: items left in a hand-off's buffer or in a cancelled sender's hands
in ``run.stats().discarded`` (by hand-off, and in a note on the abort's exception), items
inside an operator (a call in progress, a partial window) in that operator's
``in_flight``.

**Why signals are received, not trapped.** On Ctrl-C trio raises ``KeyboardInterrupt``
in the main task at an arbitrary checkpoint, while asyncio's runner cancels the main
task: neither gives a place to start a drain. With ``handle_signals=True`` the runner
opens ``anyio.open_signal_receiver(SIGINT, SIGTERM)`` for the duration of the run,
which replaces the default handlers on both backends, so the first signal becomes an
ordinary call to ``stop()`` and the second an ``abort(KeyboardInterrupt())``. When the
run ends the default handlers come back, so a Ctrl-C after the pipeline finished
behaves as Python normally does.
"""

from __future__ import annotations

import enum
import math
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal, ParamSpec, TypeVar

import anyio

__all__ = [
    "CHECKPOINT_EVERY",
    "STOPPED",
    "Aborted",
    "EndOfInput",
    "StopState",
    "check_grace",
    "relay_signals",
]

#: A sync source yields to the event loop after this many items.
CHECKPOINT_EVERY = 128

T = TypeVar("T")
P = ParamSpec("P")


class Aborted(Exception):
    """The run was aborted before it could finish draining (e.g. its grace period ended)."""


def check_grace(where: str, grace: object) -> None:
    """Refuse a grace period that is not a finite number of seconds >= 0 (or None)."""
    if grace is None:
        return
    if isinstance(grace, bool) or not isinstance(grace, int | float):
        raise TypeError(f"{where}: grace must be a number of seconds or None, got {grace!r}")
    if not 0 <= grace < math.inf:  # also refuses nan
        raise ValueError(f"{where}: grace must be a finite number of seconds >= 0, got {grace}")


class _Pulled(enum.Enum):
    STOPPED = "STOPPED"

    def __repr__(self) -> str:
        return "STOPPED"


#: What :meth:`StopState.pull` returns instead of an item when a stop came first.
STOPPED: Final = _Pulled.STOPPED


class StopState:
    """The flags a graceful stop works through (shared by the runner and the source loop).

    ``stopping``: a stop was requested; the source loop checks it before every pull.
    ``pulling``: the source task is currently waiting inside the source, so cancelling
    the source's scope now loses nothing. ``await wait()`` returns once a stop was
    requested: for task sources and staged operators that must stop inputs of their own
    (``merge``, ``merge_with``) without polling. ``tick_limit``: the count of items at
    which a sync source's fused loop next looks at this state, ``CHECKPOINT_EVERY`` (its
    checkpoint) until a stop is requested and 0 from then on, so that the loop's one
    compare per item sees a stop at the next item as a flag test would (``fuse.py``).

    A loop that owns a source follows the protocol through two helpers: each item comes
    from :meth:`pull`, and an item pulled while a stop arrived is finished with
    :meth:`finish_item` before the loop ends::

        while True:
            try:
                x = await stop.pull(source.__anext__)
            except StopAsyncIteration:
                break  # end of input
            if x is STOPPED:
                break  # stopped before the pull: nothing in hand
            if stop.stopping:  # the stop came while the pull completed
                await stop.finish_item(handle, x)
                break
            await handle(x)

    The fused loops (``fuse.py``) inline both, for speed, and say so where they do.
    """

    __slots__ = (
        "_event",
        "_finishing",
        "aborting",
        "pulling",
        "source_stats",
        "stopping",
        "tick_limit",
    )

    def __init__(self) -> None:
        self.stopping: bool = False
        self.tick_limit: int = CHECKPOINT_EVERY
        self.pulling: bool = False
        self.aborting: bool = False
        self._event: anyio.Event | None = None
        self._finishing: set[anyio.CancelScope] = set()
        # The source's OpStats (set by the runner): a task source counts its own events
        # there (a connector's reconnects as ``retried``, its dead letters, its drops).
        self.source_stats: Any = None

    def request(self) -> None:
        """Mark the stop (the runner calls this from ``Run.stop()``)."""
        self.stopping = True
        self.tick_limit = 0
        if self._event is not None:
            self._event.set()

    def abort(self) -> None:
        """The run is being aborted: cancel every :meth:`finishing` scope still open."""
        self.aborting = True
        for scope in list(self._finishing):
            scope.cancel()

    async def pull(
        self, receive: Callable[[], Awaitable[T]], *, cancel_safe: bool = True
    ) -> T | Literal[_Pulled.STOPPED]:
        """The next item from ``await receive()``, or :data:`STOPPED` if a stop came first.

        The stop is checked just before the pull, so a loop that stops after an item
        pulls nothing more. With ``cancel_safe`` (``receive()`` loses nothing when
        cancelled: an async iterator's ``__anext__``, a memory stream's ``receive()``)
        ``pulling`` is set for the duration of the wait, so a stop arriving meanwhile
        cancels the source's scope and interrupts the wait instead of waiting for the next
        item. A ``receive()`` that may lose what it was receiving (a network request
        whose reply would be cut off) passes ``cancel_safe=False``: the stop then takes
        effect when it returns. Whatever ``receive()`` raises to end its input
        (``StopAsyncIteration``, ``EndOfStream``) propagates. The returned item may have
        completed at the very moment of a stop, whose cancellation would then reach the
        loop's next wait: check ``stopping`` and finish it with :meth:`finish_item`.
        """
        if self.stopping:
            return STOPPED
        if not cancel_safe:
            return await receive()
        self.pulling = True
        try:
            return await receive()
        finally:
            self.pulling = False

    async def finish_item(
        self, finish: Callable[P, Awaitable[object]], /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Finish the item in hand after a stop: ``await finish(*args, **kwargs)`` shielded.

        For the item a loop pulled as the stop arrived (see :meth:`pull`); the loop ends
        after it. Shielded from the stop, not from an abort (:meth:`finishing`): the
        stop's cancellation of the source's scope must not land on the hand-off of an
        item already pulled, and an abort must still end the wait. After an abort the
        finish is abandoned and this returns.
        """
        with self.finishing():
            await finish(*args, **kwargs)

    @contextmanager
    def finishing(self) -> Iterator[anyio.CancelScope]:
        """Shield the finish of the item in hand from the stop, not from an abort.

        A stop may cancel the source's scope just after the source produced an item; the
        cancellation then lands on the hand-off that follows, and the item would be lost.
        So the item is finished inside this scope, which the stop's cancellation cannot
        reach but :meth:`abort` can: a shield held across a wait on another task of the
        same run (the send waits for a reader) must never outlive an abort.
        """
        scope = anyio.CancelScope(shield=True)
        if self.aborting:
            scope.cancel()
        self._finishing.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._finishing.discard(scope)

    async def wait(self) -> None:
        """Return once a graceful stop has been requested."""
        if self.stopping:
            return
        if self._event is None:
            # Created on first use: a StopState may be made outside an event loop.
            self._event = anyio.Event()
        await self._event.wait()


async def relay_signals(
    stopping: Callable[[], bool],
    stop: Callable[[], None],
    abort: Callable[[BaseException], None],
    *,
    task_status: Any = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Turn SIGINT/SIGTERM into a graceful stop, and a second one into an abort.

    The second SIGINT aborts with ``KeyboardInterrupt`` (what a user pressing Ctrl-C twice
    expects to see), a second SIGTERM with :class:`Aborted`. Runs until cancelled.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if not stopping():
                stop()
            elif signum == signal.SIGINT:
                abort(KeyboardInterrupt())
            else:
                name = signal.Signals(signum).name
                abort(Aborted(f"aborted by a second signal ({name})"))


class EndOfInput:
    """Set once the consumer's loop has met the end of its input (``EndOfStream``).

    How the runner tells a run that ran to its end from one left early. Nothing else
    can: a closed async generator looks the same whether it ran to its end or was
    ``aclose()``-d half way (aiostream does that after its own ``take``), a ``collect()``
    after a ``take`` returns as one at the end of input does, and the consumer may leave
    after the last item without asking for the end. The runner hands this object to the
    receive side of the stream the consumer's loop reads (``handoff.BoundaryReceive``),
    which sets it at the moment it hands that loop its end of input: only then has every
    task of the run ended its output, so that leaving need not cancel them.
    """

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = False

    def set(self) -> None:
        """The consumer's loop has seen the end of its input."""
        self.reached = True
