"""Scripted sources: emit given items at given virtual times, raise or hang on cue.

A test of a time-based pipeline needs an input whose timing it controls exactly::

    from anystream.testing import at, hang, raise_, scripted

    source = scripted(at(0.5, "a"), at(1.0, "b"), at(3.0, raise_(ValueError("boom"))))
    # "a" at 0.5 s, "b" at 1.0 s, then ValueError("boom") at 3.0 s

Times are seconds *relative to the moment the run starts pulling from the source*, so the
same script gives the same output whenever it runs. On the virtual clock of
:mod:`anystream.testing.pytest_plugin` the waits take no real time and land exactly on the
given instants, which is what makes marble-style assertions with ``==`` possible (see
:mod:`anystream.testing.recorder`).

What a script is made of, in order (times never go backwards):

* ``at(t, item)``: emit ``item`` at time ``t``;
* a bare ``item``: emit it right after the previous event, at the same instant;
* ``at(t, raise_(exc))`` or ``raise_(exc)``: raise ``exc`` (an instance or a class);
* ``at(t, hang())`` or ``hang()``: never emit again and never end (until cancelled; a
  graceful stop interrupts it, since the wait happens inside the source);
* ``at(t, end())``: end the stream at time ``t`` rather than right after the last item.

Without a final ``raise_``, ``hang`` or ``end`` the stream ends right after its last item.
Nothing comes after a ``raise_``, ``hang`` or ``end``: a script that says otherwise is
refused when it is built.

:class:`ScriptedSource` is the script itself: a re-iterable async iterable (each
iteration replays it from its own start), so it can feed anything that takes an async
iterable, aiostream included. It counts how often it was opened and closed, which is what
early-exit tests assert on. :func:`scripted` wraps one in a :class:`~anystream.Stream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, Never, TypeVar, overload

import anyio

from .._core.source import IterableSource
from .._core.stream import Stream

__all__ = [
    "At",
    "Directive",
    "End",
    "Hang",
    "Raise",
    "ScriptedSource",
    "at",
    "end",
    "hang",
    "raise_",
    "scripted",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Directive:
    """Base of the non-item script events: :class:`Raise`, :class:`Hang`, :class:`End`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Raise(Directive):
    """Raise ``error`` (an exception instance, or a class to instantiate per run)."""

    error: BaseException | type[BaseException]

    def make(self) -> BaseException:
        return self.error() if isinstance(self.error, type) else self.error


@dataclass(frozen=True, slots=True)
class Hang(Directive):
    """Never emit again and never end, until the run is stopped or cancelled."""


@dataclass(frozen=True, slots=True)
class End(Directive):
    """End the stream (normally) at this point of the script."""


def raise_(error: BaseException | type[BaseException]) -> Raise:
    """A script event that raises ``error`` from the source.

    An instance is raised as itself on every run (so ``pytest.raises`` can check
    identity); a class is instantiated afresh per run.
    """
    if isinstance(error, type):
        if not issubclass(error, BaseException):
            raise TypeError(f"raise_(): error must be an exception, got the class {error!r}")
    elif not isinstance(error, BaseException):
        raise TypeError(f"raise_(): error must be an exception, got {error!r}")
    return Raise(error)


def hang() -> Hang:
    """A script event after which the source waits forever (until stopped or cancelled)."""
    return Hang()


def end() -> End:
    """A script event that ends the stream; ``at(t, end())`` ends it exactly at ``t``."""
    return End()


@dataclass(frozen=True, slots=True)
class At(Generic[T_co]):
    """``value`` (an item or a :class:`Directive`) scheduled at ``time`` seconds after the start."""

    time: float
    value: T_co | Directive


@overload
def at(time: float, value: Directive) -> At[Never]: ...
@overload
def at(time: float, value: T) -> At[T]: ...
def at(time: float, value: Any) -> At[Any]:
    """Schedule ``value`` at ``time`` seconds after the source starts (see the module doc)."""
    if isinstance(time, bool) or not isinstance(time, int | float):
        raise TypeError(f"at(): time must be a number of seconds, got {time!r}")
    if not time >= 0:  # also refuses NaN
        raise ValueError(f"at(): time must be >= 0, got {time!r}")
    if time == float("inf"):  # the script would wait for it for ever: use hang()
        raise ValueError(f"at(): time must be finite, got {time!r}; hang() waits for ever")
    return At(float(time), value)


class ScriptedSource(Generic[T_co]):
    """A re-iterable async iterable that plays a script of timed items, errors and hangs.

    ::

        source = ScriptedSource(at(1.0, "a"), at(2.0, "b"))
        stream = source.as_stream() | map(str.upper)
        assert await stream.collect() == ["A", "B"]   # at t = 2.0 on the virtual clock
        assert source.opened == source.closed == 1

    ``opened`` counts iterations started, ``closed`` those whose generator has finished or
    been closed (its ``finally`` ran), ``emitted`` the items handed out over all runs.
    Each iteration replays the whole script, timed from its own first ``__anext__``.
    """

    def __init__(self, *events: At[T_co] | Directive | T_co) -> None:
        script: list[tuple[float | None, Any]] = []
        last = 0.0
        for index, event in enumerate(events):
            if script and isinstance(script[-1][1], Directive):
                raise ValueError(
                    f"scripted(): event {index} ({event!r}) comes after "
                    f"{script[-1][1]!r}, which ends the script"
                )
            if isinstance(event, At):
                if event.time < last:
                    raise ValueError(
                        f"scripted(): event {index} is at {event.time:g} s, before the "
                        f"previous event at {last:g} s; times must not go backwards"
                    )
                last = event.time
                script.append((event.time, event.value))
            else:
                script.append((None, event))  # right after the previous event
        self._script = tuple(script)
        self.opened: int = 0
        self.closed: int = 0
        self.emitted: int = 0

    def __aiter__(self) -> AsyncIterator[T_co]:
        return self._play()

    async def _play(self) -> AsyncIterator[T_co]:
        self.opened += 1
        try:
            start = anyio.current_time()
            for when, value in self._script:
                if when is not None:
                    await anyio.sleep_until(start + when)
                if isinstance(value, Directive):
                    if isinstance(value, Raise):
                        raise value.make()
                    if isinstance(value, Hang):
                        await anyio.sleep_forever()
                    return
                self.emitted += 1
                yield value
        finally:
            self.closed += 1

    def as_stream(self, name: str = "scripted") -> Stream[T_co]:
        """A :class:`~anystream.Stream` whose source is this script (``name`` shows in stats)."""
        return Stream(IterableSource(self, name))

    def __repr__(self) -> str:
        return f"ScriptedSource({len(self._script)} events)"


def scripted(*events: At[T] | Directive | T) -> Stream[T]:
    """A stream that plays ``events`` on the clock: see the module docstring.

    ::

        s = scripted(at(0.5, "a"), at(1.0, "b"), hang())
        # --a--b-----...  (never ends; record it with a time limit)

    Keep the :class:`ScriptedSource` instead (``ScriptedSource(...).as_stream()``) when
    the test needs to check that the source was closed.
    """
    return ScriptedSource(*events).as_stream()
