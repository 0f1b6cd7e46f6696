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
flows through to the consumer, windows flush, and iteration ends normally.

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

import signal
from collections.abc import Callable
from typing import Any

import anyio

__all__ = ["Aborted", "StopState", "relay_signals"]


class Aborted(Exception):
    """The run was aborted before it could finish draining (e.g. its grace period ended)."""


class StopState:
    """The flags a graceful stop works through (shared by the runner and the source loop).

    ``stopping``: a stop was requested; the source loop checks it before every pull.
    ``pulling``: the source task is currently waiting inside the source, so cancelling
    the source's scope now loses nothing. ``await wait()`` returns once a stop was
    requested: for task sources and staged operators that must stop inputs of their own
    (``merge``, ``merge_with``) without polling.
    """

    __slots__ = ("_event", "pulling", "source_stats", "stopping")

    def __init__(self) -> None:
        self.stopping = False
        self.pulling = False
        self._event: anyio.Event | None = None
        # The source's OpStats (set by the runner): a task source counts its own events
        # there (a connector's reconnects as ``retried``, its dead letters, its drops).
        self.source_stats: Any = None

    def request(self) -> None:
        """Mark the stop (the runner calls this from ``Run.stop()``)."""
        self.stopping = True
        if self._event is not None:
            self._event.set()

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
