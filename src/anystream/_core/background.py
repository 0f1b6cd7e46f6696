"""A run in the background: ``run = await stream.start()`` returns while it goes on.

``async with stream.stream() as run`` ties a run to a block, which is what programs
want. A notebook wants something else: start a run in one cell, look at it from the next
cells, stop it from a later one. :meth:`Stream.start` does that, the anyio way round:
like ``TaskGroup.start()`` it is awaited and returns once the run has started (its tasks
are running, its live view is drawn), handing back a :class:`BackgroundRun`::

    run = await stream.start(progress=True)   # a live view in this cell's output
    run.stats()                               # in any later cell
    await run.stop()                          # graceful: the source stops, the rest drains

The run is consumed by a task of its own, which counts what it receives
(``run.received``) and keeps it only when asked (``keep=True``: ``run.items``). That task
belongs to the event loop, not to the cell or the caller (a trio system task or an
asyncio task; see ``_backends.spawn_detached``), so it outlives them; it ends when the
run ends, is stopped or aborted, or the event loop itself shuts down.

When the Jupyter kernel it runs in shuts down (or restarts), a run still going is
aborted first and waited for (at most a few seconds), so that its sources and
generators are closed: the event loop itself would otherwise just stop, leaving them.

An error in the run does not vanish: :attr:`BackgroundRun.error` holds it and
:meth:`~BackgroundRun.wait` / :meth:`~BackgroundRun.stop` raise it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import anyio

from ._backends import spawn_detached
from .hooks import background_started

if TYPE_CHECKING:
    from .runner import Run
    from .stats import RunStats
    from .stream import Stream

__all__ = ["BackgroundRun"]

T = TypeVar("T")

State = Literal["starting", "running", "stopping", "finished", "failed", "aborted"]


class BackgroundRun(Generic[T]):
    """A run started by :meth:`Stream.start`, consumed by a task of its own.

    ``received`` counts the items the run emitted; ``items`` holds them when the run was
    started with ``keep=True`` (else it stays empty). ``state`` is ``"running"``,
    ``"stopping"`` (a graceful stop is draining), ``"finished"``, ``"failed"`` (see
    ``error``) or ``"aborted"``.
    """

    def __init__(self, stream: Stream[T], *, keep: bool, progress: bool, timing: bool) -> None:
        self._stream = stream
        self._keep = keep
        self._progress = progress
        self._timing = timing
        self._run: Run[T] | None = None
        self._scope: anyio.CancelScope | None = None
        self._started = anyio.Event()
        self._done = anyio.Event()
        self._aborted = False
        self.error: BaseException | None = None
        self.received = 0
        self.items: list[T] = []

    async def _body(self) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with self._stream.stream(progress=self._progress, timing=self._timing) as run:
                    self._run = run
                    self._started.set()
                    keep, items = self._keep, self.items
                    async for item in run:
                        self.received += 1
                        if keep:
                            items.append(item)
        except Exception as exc:  # kept for wait()/stop(); a background task must not raise
            self.error = exc
        finally:
            self._started.set()
            self._done.set()

    async def _start(self) -> None:
        spawn_detached(self._body)
        await self._started.wait()
        if self.error is not None:
            raise self.error
        # In a Jupyter kernel: the kernel's shutdown aborts this run first, so its
        # generators' ``finally`` blocks run (see anystream.observe._ipykernel_asyncio).
        background_started(self)

    # -- looking -------------------------------------------------------------------------

    @property
    def run(self) -> Run[T]:
        """The underlying :class:`Run` (``run.run.latency()`` on a timed run)."""
        if self._run is None:
            raise RuntimeError("the background run has not started")
        return self._run

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def state(self) -> State:
        if not self._started.is_set():
            return "starting"
        if self.done:
            if self.error is not None:
                return "failed"
            return "aborted" if self._aborted else "finished"
        return "stopping" if self.run.stopping else "running"

    def stats(self) -> RunStats:
        """The run's live counters (see :class:`RunStats`), readable at any time."""
        return self.run.stats()

    # -- ending --------------------------------------------------------------------------

    async def wait(self) -> None:
        """Wait until the run has ended; raise its error if it failed."""
        await self._done.wait()
        if self.error is not None:
            raise self.error

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop gracefully (the source stops, what it produced drains), then :meth:`wait`.

        With ``grace``, abort if the drain has not finished within that many seconds.
        """
        if not self.done:
            self.run.stop(grace=grace)
        await self.wait()

    async def abort(self) -> None:
        """Cancel the run at once (what was in flight is discarded) and wait for it."""
        if not self.done and self._scope is not None:
            self._aborted = True
            self._scope.cancel()
        await self._done.wait()

    # -- displays ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"BackgroundRun({self.state}, received={self.received})"

    def _repr_html_(self) -> str:
        import html

        head = f"<b>BackgroundRun · {html.escape(self.state)} · received {self.received}</b>"
        if self._run is None:
            return f"<div class='anystream-background'>{head}</div>"
        return f"<div class='anystream-background'>{head}{self.stats()._repr_html_()}</div>"
