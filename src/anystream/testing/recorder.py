"""Record what a stream emits and when; write and read marble diagrams.

A :class:`Recording` holds ``(time, item)`` pairs measured from the start of the recording,
plus how the stream ended (when, and with which error if any). On the virtual clock the
times are exact, so a whole timeline is one assertion::

    from anystream import debounce
    from anystream.testing import marbles, record, scripted

    source = scripted(*marbles("a-b-----c--|", frame=0.1))
    rec = await record(source | debounce(0.3))
    assert rec.marbles(frame=0.1) == "-----b-----(c|)"

Two ways to record:

* ``rec = await record(stream)`` runs the stream to its end (or for ``until`` seconds of
  clock time, then abandons it) and returns the :class:`Recording`;
* ``async with record(stream) as rec:`` runs it in the background while the block runs
  (to stop it, set events, or look at ``rec.items`` half-way); leaving the block ends
  the run if it has not ended by itself (``await rec.wait()`` waits for the end instead).

An error from the stream is raised from ``record`` as itself, unless its type is listed in
``catch``: then it is kept in ``rec.error`` (and drawn as ``#``), for tests about errors.

Marble diagrams
---------------
One character per *frame* of ``frame`` seconds, starting at time 0:

``-``
    nothing happens in this frame;
``a`` (any other single character)
    an item, in this frame;
``(ab)``
    several events in the same frame (the group counts as *one* frame);
``|``
    the stream ends; ``#`` the stream raises;
spaces
    ignored (use them to line diagrams up).

So ``"--a-b--|"`` is ``a`` at 0.2 s, ``b`` at 0.4 s and the end at 0.7 s with
``frame=0.1``. A diagram with no ``|`` or ``#`` never ends (as in RxJS).
:func:`marbles` turns a diagram into script events for
:func:`~anystream.testing.scripted`; :meth:`Recording.marbles` draws a recording the same
way, with the end in the frame where it happened (``(c|)`` when the stream ended in the
same frame as its last item).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

import anyio
from anyio.abc import TaskGroup

from .._core.errors import reraise_unwrapped
from .._core.owned import Owned
from .._core.runner import Run
from .._core.stream import Stream
from .sources import At, at, end, hang, raise_

__all__ = ["Recorder", "Recording", "marbles", "record"]

T = TypeVar("T")
V = TypeVar("V")

ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]

#: Recorded times are rounded to this many decimals (a nanosecond), see ``Recording``.
TIME_DIGITS = 9


@dataclass
class Recording(Generic[T]):
    """What a stream emitted, when, and how it ended.

    ``events`` are ``(time, item)`` pairs, times in seconds since ``start`` (the clock
    time at which recording began), rounded to the nanosecond so that float noise from a
    clock that did not start at 0 does not break ``==`` assertions. ``end_time`` is when
    the stream ended (normally or with ``error``), relative to ``start`` too; None while it
    runs, or when the recording stopped it before it ended (``until`` reached, ``async
    with`` block left).
    """

    start: float
    events: list[tuple[float, T]] = field(default_factory=list)
    end_time: float | None = None
    error: BaseException | None = None

    @property
    def items(self) -> list[T]:
        """The items, in the order they were emitted."""
        return [item for _, item in self.events]

    @property
    def times(self) -> list[float]:
        """The emission times, relative to ``start``."""
        return [time for time, _ in self.events]

    @property
    def ended(self) -> bool:
        """True once the stream has ended by itself (with or without an error)."""
        return self.end_time is not None

    def marbles(
        self, frame: float, *, labels: Mapping[Any, str] | Callable[[T], str] | None = None
    ) -> str:
        """Draw the recording as a marble diagram with frames of ``frame`` seconds.

        Each item is drawn as ``labels[item]`` (a mapping) or ``labels(item)`` (a callable),
        by default ``str(item)``; every label must be a single character. An event belongs
        to the frame nearest its time. A stream still running (or stopped by the recorder)
        gets no end mark. See the module docstring for the notation.
        """
        size = _check_frame(frame)
        frames: dict[int, list[str]] = {}
        for time, item in self.events:
            label = _label(item, labels)
            frames.setdefault(_frame_of(time, size), []).append(label)
        if self.end_time is not None:
            mark = "#" if self.error is not None else "|"
            frames.setdefault(_frame_of(self.end_time, size), []).append(mark)
        if not frames:
            return ""
        out = []
        for index in range(max(frames) + 1):
            marks = frames.get(index)
            if not marks:
                out.append("-")
            elif len(marks) == 1:
                out.append(marks[0])
            else:
                out.append("(" + "".join(marks) + ")")
        return "".join(out)


def _frame_of(time: float, size: float) -> int:
    return math.floor(time / size + 0.5)


def _label(item: Any, labels: Mapping[Any, str] | Callable[[Any], str] | None) -> str:
    if labels is None:
        label = str(item)
    elif callable(labels):
        label = labels(item)
    else:
        label = labels[item]
    if len(label) != 1 or label in "-()|# ":
        raise ValueError(
            f"marbles(): item {item!r} is drawn as {label!r}, but a marble must be one "
            "character other than - ( ) | # and space; pass labels= to name it"
        )
    return label


def _check_frame(frame: float) -> float:
    if isinstance(frame, bool) or not isinstance(frame, int | float):
        raise TypeError(f"marbles(): frame must be a number of seconds, got {frame!r}")
    if not frame > 0 or math.isinf(frame):
        raise ValueError(f"marbles(): frame must be a positive number of seconds, got {frame!r}")
    return float(frame)


@overload
def marbles(
    diagram: str,
    frame: float,
    *,
    values: None = ...,
    error: BaseException | type[BaseException] = ...,
) -> list[At[str]]: ...
@overload
def marbles(
    diagram: str,
    frame: float,
    *,
    values: Mapping[str, V],
    error: BaseException | type[BaseException] = ...,
) -> list[At[V]]: ...
def marbles(
    diagram: str,
    frame: float,
    *,
    values: Mapping[str, Any] | None = None,
    error: BaseException | type[BaseException] = RuntimeError,
) -> list[At[Any]]:
    """Turn a marble diagram into script events for :func:`~anystream.testing.scripted`.

    ::

        marbles("--a-b--|", frame=0.1)
        # [at(0.2, "a"), at(0.4, "b"), at(0.7, end())]
        marbles("-x-#", frame=1, values={"x": 42}, error=ValueError("bad"))
        # [at(1, 42), at(3, raise_(ValueError("bad")))]

    Each character stands for the item ``values[char]`` (by default the character
    itself); ``#`` raises ``error``; a diagram without ``|`` or ``#`` ends with a
    ``hang()``, as in RxJS where such a stream never completes. Malformed diagrams
    (unbalanced parentheses, anything after ``|`` or ``#``) raise ``ValueError``.
    """
    size = _check_frame(frame)
    if not isinstance(diagram, str):
        raise TypeError(f"marbles(): diagram must be a str, got {diagram!r}")
    events: list[At[Any]] = []
    finished = False
    time = 0.0
    for index, group in _frames(diagram):
        time = index * size
        for char in group:
            if finished:
                raise ValueError(f"marbles(): {diagram!r} has events after its end (| or #)")
            if char == "|":
                events.append(at(time, end()))
                finished = True
            elif char == "#":
                events.append(at(time, raise_(error)))
                finished = True
            else:
                events.append(at(time, values[char] if values is not None else char))
    if not finished:
        events.append(at(time, hang()))
    return events


def _frames(diagram: str) -> Generator[tuple[int, str], None, None]:
    """Yield ``(frame index, characters of that frame)`` for the non-empty frames."""
    index = 0
    group: list[str] | None = None
    for char in diagram:
        if char == " ":
            continue
        if group is not None:
            if char == "(":
                raise ValueError(f"marbles(): nested '(' in {diagram!r}")
            if char == ")":
                if not group:
                    raise ValueError(f"marbles(): empty group '()' in {diagram!r}")
                yield index, "".join(group)
                group = None
                index += 1
            elif char == "-":
                raise ValueError(f"marbles(): '-' inside a group in {diagram!r}")
            else:
                group.append(char)
            continue
        if char == "(":
            group = []
        elif char == ")":
            raise ValueError(f"marbles(): ')' without '(' in {diagram!r}")
        elif char == "-":
            index += 1
        else:
            yield index, char
            index += 1
    if group is not None:
        raise ValueError(f"marbles(): '(' without ')' in {diagram!r}")


class Recorder(Generic[T]):
    """Runs a stream and records it; what :func:`record` returns.

    Await it (``rec = await record(stream)``) or enter it (``async with record(stream)
    as rec``): see the module docstring. ``stop()`` asks the run for a graceful stop.
    """

    def __init__(
        self, stream: Stream[T], *, until: float | None = None, catch: ErrorTypes = ()
    ) -> None:
        if not isinstance(stream, Stream):
            raise TypeError(f"record(): stream must be an anystream Stream, got {stream!r}")
        if until is not None:
            if isinstance(until, bool) or not isinstance(until, int | float):
                raise TypeError(f"record(): until must be a number of seconds, got {until!r}")
            if not until >= 0:
                raise ValueError(f"record(): until must be >= 0, got {until!r}")
        if not _is_error_types(catch):
            raise TypeError(
                f"record(): catch must be an exception class or a tuple of them, got {catch!r}"
            )
        self._stream = stream
        self._until = until
        self._catch = catch
        self._recording: Recording[T] | None = None
        self._run: Run[T] | None = None
        self._stop_requested = False
        self._done = anyio.Event()
        self._failure: BaseException | None = None
        self._tg: TaskGroup | None = None
        self._owned = Owned()  # holds _tg open from __aenter__ to __aexit__
        self._used = False

    @property
    def recording(self) -> Recording[T]:
        if self._recording is None:
            raise RuntimeError("record(): the recording has not started yet")
        return self._recording

    def stop(self) -> None:
        """Ask the recorded run for a graceful stop (see ``Run.stop``)."""
        self._stop_requested = True
        if self._run is not None:
            self._run.stop()

    async def wait(self) -> Recording[T]:
        """Wait until the stream has ended (or ``until`` passed); return the recording."""
        await self._done.wait()
        return self.recording

    async def _record(self) -> None:
        rec = self.recording
        current_time = anyio.current_time

        def elapsed() -> float:
            # Rounded to the nanosecond: on a virtual clock that did not start at 0,
            # ``start + 0.4 - start`` is 0.40000000000000036, and ``==`` should still hold.
            return round(current_time() - rec.start, TIME_DIGITS)

        try:
            with anyio.move_on_at(rec.start + self._until if self._until is not None else math.inf):
                async with self._stream.stream() as run:
                    self._run = run
                    if self._stop_requested:
                        run.stop()
                    async for item in run:
                        rec.events.append((elapsed(), item))
                rec.end_time = elapsed()
        except self._catch as exc:
            rec.end_time = elapsed()
            rec.error = exc
        except Exception as exc:
            self._failure = exc
        finally:
            self._run = None
            self._done.set()

    def _begin(self) -> Recording[T]:
        if self._used:
            raise RuntimeError("record(): a Recorder can be used once; call record() again")
        self._used = True
        self._recording = Recording(start=anyio.current_time())
        return self._recording

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def __await__(self) -> Generator[Any, None, Recording[T]]:
        return self._await().__await__()

    async def _await(self) -> Recording[T]:
        rec = self._begin()
        await self._record()
        self._raise_failure()
        return rec

    async def __aenter__(self) -> Recording[T]:
        rec = self._begin()
        tg = await self._owned.enter(anyio.create_task_group())
        self._tg = tg
        tg.start_soon(self._background, name="anystream record")
        return rec

    async def _background(self) -> None:
        await self._record()
        if self._failure is not None and self._tg is not None:
            # Interrupt the block: the error is raised from __aexit__ as itself.
            self._tg.cancel_scope.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        if not self._done.is_set():
            self._tg.cancel_scope.cancel()  # leaving the block ends the run
        try:
            suppress = await self._owned.exit(exc_type, exc, tb)
        except BaseException as raised:
            # anyio wraps even the block's own exception in a group: give it back as itself.
            reraise_unwrapped(raised)
            raise  # pragma: no cover - reraise_unwrapped always raises
        finally:
            self._tg = None
        if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
            self._raise_failure()
        return suppress


def _is_error_types(value: object) -> bool:
    if isinstance(value, type):
        return issubclass(value, BaseException)
    return isinstance(value, tuple) and all(_is_error_types(v) for v in value)


def record(stream: Stream[T], *, until: float | None = None, catch: ErrorTypes = ()) -> Recorder[T]:
    """Record ``stream``: ``await record(s)`` or ``async with record(s) as rec`` (see above).

    ``until``: stop recording (and abandon the run) that many seconds after the start,
    for streams that never end. ``catch``: exception types to keep in ``rec.error``
    instead of raising them.
    """
    return Recorder(stream, until=until, catch=catch)
