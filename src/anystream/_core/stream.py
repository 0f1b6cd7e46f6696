"""``Stream``: a cold, re-runnable description of a pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

from .operator import Operator, Step
from .runner import Run
from .source import Source
from .stats import RunStats

__all__ = ["Stream"]

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")


class Stream(Generic[T_co]):
    """A source plus the operators applied to it; nothing runs until it is iterated.

    ``stream | op`` returns a new stream and leaves ``stream`` unchanged, so a stream can
    be extended in several directions and run many times. Each run opens the source
    afresh (see :func:`from_iterable` for one-shot sources).

    Run it with ``await stream.collect()`` or::

        async with stream.stream() as items:
            async for item in items:
                ...
    """

    __slots__ = ("_last_stats", "_source", "_steps")

    def __init__(self, source: Source[T_co], steps: tuple[Step, ...] = ()) -> None:
        self._source = source
        self._steps = steps
        self._last_stats: RunStats | None = None

    def __or__(self, op: Operator[T_co, U]) -> Stream[U]:
        if not isinstance(op, Operator):
            raise TypeError(
                f"stream | x needs an anystream operator on the right, got "
                f"{type(op).__name__} {op!r:.60} (did you forget to call it, e.g. "
                "take(3) rather than take?)"
            )
        return Stream(self._source, self._steps + op.steps)  # type: ignore[arg-type]

    def stream(
        self,
        *,
        handle_signals: bool = False,
        grace: float | None = None,
        timing: bool = False,
        clock: Callable[[], float] | None = None,
        progress: bool = False,
    ) -> Run[T_co]:
        """Start a run: an async context manager yielding the run's async iterator.

        ``handle_signals=True`` turns the first SIGINT or SIGTERM into a graceful stop
        and the second into an abort (see ``anystream._core.shutdown``). ``grace`` bounds
        a graceful stop: if the drain takes longer, the run is aborted.

        ``timing=True`` measures, per stage, how long items waited in the buffer in
        front of it, computed, and were blocked handing results on, plus end-to-end
        latency: ``run.latency()`` (see ``anystream._core.timing``). ``clock`` is the
        time source for it (``time.perf_counter`` by default; ``anyio.current_time``
        makes it follow a virtual clock in tests).

        ``progress=True`` shows a live per-stage table while the run goes: redrawn in
        place in a terminal (``rich``, the ``anystream[progress]`` extra) or updated in
        a Jupyter cell, and off when nobody watches (output not a terminal, no kernel);
        see ``anystream.observe.progress.show_progress`` for the options.
        """
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int | float)):
            raise TypeError(f"stream(): grace must be a number of seconds, got {grace!r}")
        if grace is not None and grace < 0:
            raise ValueError(f"stream(): grace must be >= 0, got {grace}")
        return Run(
            self,
            handle_signals=handle_signals,
            grace=grace,
            timing=timing,
            clock=clock,
            progress=progress,
        )

    async def collect(self) -> list[T_co]:
        """Run the stream to the end and return every item in a list."""
        async with Run(self) as run:
            return await run._collect()

    def stats(self) -> RunStats:
        """Counters of this stream's most recent run (running or finished).

        Includes what each operator dropped, e.g. ``stream.stats()["parse"].dropped``.
        """
        if self._last_stats is None:
            raise RuntimeError("this stream has not been run yet; stats() describes a run")
        return self._last_stats

    def __aiter__(self) -> NoReturn:
        raise TypeError(
            "a Stream is a description, not an iterator: iterate a run of it with "
            "'async with stream.stream() as items: async for item in items: ...' "
            "or get a list with 'await stream.collect()'"
        )

    def __repr__(self) -> str:
        parts = [self._source.name] + [step.name for step in self._steps]
        return f"Stream({' | '.join(parts)})"

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @property
    def source(self) -> Source[Any]:
        return self._source
