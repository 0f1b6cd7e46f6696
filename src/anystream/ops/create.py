"""Sources: functions that make a :class:`Stream` from something that is not one.

Every stream made here is *cold*: nothing happens until it is run, and each run starts
afresh (``interval(1)`` counts from 0 again, ``from_lines(path)`` reopens the file),
except where the thing given is itself one-shot (an iterator, an open file, a receive
stream), which the docstrings say.

Sources that wait (``interval``, ``timer``, ``never``, ``from_lines``,
``from_receive_stream``) wait *inside the source*: a graceful stop of the run (``run.stop()``
or the first Ctrl-C with ``handle_signals=True``) interrupts that wait and ends the stream
without losing anything the source already handed over (see ``_core/shutdown.py``). One
caveat from the runner: a pipeline without any staged operator runs entirely in the
consumer's task, where a stop requested by *another* task takes effect only when the
source next emits; add ``buffered(0)`` (or use ``handle_signals=True``) to make such a
pipeline's waits interruptible. ``from_receive_stream`` always runs as its own task.

Marble sketches use one character per time unit: ``-`` nothing, a digit an item, ``|`` the
end, ``...`` forever.

Names that differ from aiostream's ``stream`` module: ``range`` matches aiostream's
``range`` (its ``count`` is ``interval``-like without a period: use
``from_iterable(itertools.count())``); ``just`` is aiostream's ``just`` for one value and
``iterate`` for several; ``interval`` is aiostream's ``count(interval=...)`` but first emits
after one period (RxJS ``interval``), not at once; ``timer`` has no aiostream counterpart.
"""

from __future__ import annotations

import builtins
import codecs
import contextlib
import io
import itertools
import os
import stat
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import IO, Any, AnyStr, Never, TypeVar, overload

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio import CancelScope, EndOfStream, WouldBlock
from anyio.abc import ObjectReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from .._core.callables import check_int, check_number
from .._core.handoff import send
from .._core.shutdown import STOPPED, StopState
from .._core.source import FactorySource, IterableSource, TaskSource
from .._core.stream import Stream

__all__ = [
    "empty",
    "from_iterable",
    "from_lines",
    "from_receive_stream",
    "interval",
    "just",
    "never",
    "range",
    "repeat",
    "timer",
]

T = TypeVar("T")

_builtin_range = builtins.range

#: Bytes of a regular file read per thread hop by ``from_lines`` (about 64 KiB of lines).
LINES_BATCH_BYTES = 1 << 16


@overload
def from_iterable(iterable: AsyncIterable[T]) -> Stream[T]: ...
@overload
def from_iterable(iterable: Iterable[T]) -> Stream[T]: ...
def from_iterable(iterable: Iterable[T] | AsyncIterable[T]) -> Stream[T]:
    """A stream of the items of a sync or async iterable, in order.

    Emits every item, then ends. A re-iterable (a list, a range, an aiostream stream)
    runs afresh on every run of the stream; a one-shot iterator or generator can be run
    once, and a second run raises ``RuntimeError`` saying so. A sync iterable is iterated
    inline by the fused loop, yielding to the event loop every 128 items so that a long
    list neither starves other tasks nor ignores cancellation.

    Refused at build time: a :class:`Stream` (it is a stream already: use it directly)
    and anything that is not iterable.

    aiostream: ``stream.iterate``.
    """
    if isinstance(iterable, Stream):
        raise TypeError("from_iterable(): got a Stream; it is already a stream: use it directly")
    if not isinstance(iterable, Iterable | AsyncIterable):
        raise TypeError(
            "from_iterable(): iterable must be an iterable or async iterable, got "
            f"{'None' if iterable is None else type(iterable).__name__}"
        )
    return Stream(IterableSource(iterable, "from_iterable"))


def range(*args: int) -> Stream[int]:
    """The integers of ``builtins.range(*args)``: ``range(stop)``, ``range(start, stop[, step])``.

    Emits them in order, then ends; every run starts again from the first. Iterated
    inline like a list (no await per item). aiostream: ``stream.range`` (same arguments).
    """
    if not 1 <= len(args) <= 3:
        raise TypeError(
            f"range() takes 1 to 3 arguments (stop or start, stop[, step]), got {len(args)}"
        )
    names = ("stop",) if len(args) == 1 else ("start", "stop", "step")
    for name, value in builtins.zip(names, args):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"range(): {name} must be an int, got {type(value).__name__} {value!r:.60}"
            )
    if len(args) == 3 and args[2] == 0:
        raise ValueError("range(): step must not be zero")
    numbers = _builtin_range(*args)
    return Stream(IterableSource(numbers, f"range({', '.join(map(str, args))})"))


def just(*values: T) -> Stream[T]:
    """The given values, in order, then the end: ``just(1, 2, 3)`` emits 1, 2, 3.

    ``just()`` is :func:`empty`. aiostream: ``stream.just`` (one value) and
    ``stream.iterate`` (several).
    """
    return Stream(IterableSource(values, "just"))


def empty() -> Stream[Never]:
    """A stream that ends at once without emitting anything (RxJS ``EMPTY``).

    ::

        |
    """
    return Stream(IterableSource((), "empty"))


def repeat(value: T, times: int | None = None) -> Stream[T]:
    """``value`` over and over: ``times`` times, or forever when ``times`` is None.

    Like ``itertools.repeat``, but re-runnable: each run repeats ``times`` times again.
    The endless form never waits, so bound it downstream (``take(n)``) or expect the
    pipeline's backpressure to pace it; it still yields to the event loop every 128
    items. aiostream: ``stream.repeat(value, times)``.
    """
    if times is not None:
        check_int("repeat", "times", times, minimum=0)

    def make() -> Iterable[T]:
        return itertools.repeat(value) if times is None else itertools.repeat(value, times)

    name = "repeat" if times is None else f"repeat(times={times})"
    return Stream(FactorySource(make, name))


# -- time ------------------------------------------------------------------------------


def interval(period: float) -> Stream[int]:
    """Emit 0, 1, 2, ... every ``period`` seconds, the first one after one period.

    ::

        interval(2):  --0-1-2-3-...       (one character = 1 s: items at 2, 4, 6, 8 s)

    RxJS ``interval`` semantics. Item ``n`` is due at ``start + (n + 1) * period``,
    where ``start`` is when the run first asks for an item: deadlines are absolute, so
    the schedule does not drift however long the stream runs or however long each hop
    takes. A consumer that falls behind delays items but never loses or renumbers them:
    overdue items are emitted as soon as they are asked for, and the stream is back on
    schedule once it catches up. Never ends by itself; a graceful stop ends it at once.
    aiostream's ``count(interval=...)`` emits its first item at once instead.
    """
    step = check_number("interval", "period", period)

    async def ticks() -> AsyncIterator[int]:
        start = anyio.current_time()
        for n in itertools.count():
            # Multiply, never accumulate: start + n * period carries no rounding drift.
            await anyio.sleep_until(start + (n + 1) * step)
            yield n

    return Stream(FactorySource(ticks, f"interval({step:g})"))


def timer(delay: float) -> Stream[int]:
    """Emit one item, ``0``, ``delay`` seconds after the run starts, then end.

    ::

        timer(3):  ---0|

    RxJS ``timer(delay)``. ``delay=0`` emits at once (after one scheduling point).
    A graceful stop during the wait ends the stream without the item.
    """
    wait = check_number("timer", "delay", delay, allow_zero=True)

    async def fire() -> AsyncIterator[int]:
        await anyio.sleep_until(anyio.current_time() + wait)
        yield 0

    return Stream(FactorySource(fire, f"timer({wait:g})"))


def never() -> Stream[Never]:
    """A stream that never emits and never ends (RxJS ``NEVER``).

    ::

        ------...

    Useful in tests and as a placeholder input of ``merge``. It waits forever, but a
    graceful stop or an abort ends it like any other source.
    """

    return Stream(FactorySource(_Never, "never"))


class _Never:
    """An async iterator whose ``__anext__`` waits forever."""

    def __aiter__(self) -> _Never:
        return self

    async def __anext__(self) -> Never:
        await anyio.sleep_forever()
        raise StopAsyncIteration  # pragma: no cover - sleep_forever only ever raises


# -- anyio receive streams -------------------------------------------------------------


def from_receive_stream(stream: ObjectReceiveStream[T]) -> Stream[T]:
    """The items received from an anyio object receive stream, until ``EndOfStream``.

    For example the receive side of ``anyio.create_memory_object_stream()``: producers
    elsewhere in the program send, the pipeline consumes, and closing every send side ends
    the stream. The receive stream is one-shot: a second run continues where the first
    stopped. It is not closed at the end (the caller owns it), so items still buffered in
    it after a stop stay there for whoever reads it next.

    A graceful stop ends the stream while it waits for an item; an item received at the
    very moment of the stop is still delivered, never lost. ``ClosedResourceError`` (the
    receive side was closed by someone) propagates. aiostream has no counterpart (its
    ``iterate`` accepts any async iterable, which a memory receive stream is).
    """
    if not isinstance(stream, ObjectReceiveStream):
        raise TypeError(
            "from_receive_stream(): stream must be an anyio ObjectReceiveStream (e.g. the "
            f"receive side of anyio.create_memory_object_stream()), got {type(stream).__name__}"
        )
    receive_nowait = getattr(stream, "receive_nowait", None)

    async def pump(tx: MemoryObjectSendStream[T], stop: StopState) -> None:
        while not stop.stopping:
            try:
                if receive_nowait is None:
                    raise WouldBlock
                item: T = receive_nowait()
            except WouldBlock:
                # Only this wait may be interrupted by a stop (StopState.pull); a memory
                # stream's receive() is cancel-safe.
                try:
                    pulled = await stop.pull(stream.receive)
                except EndOfStream:
                    return
                if pulled is STOPPED:
                    return
                item = pulled
            except EndOfStream:
                return
            if _stop_requested(stop):
                # The stop may have cancelled our scope just after the item was handed to
                # us: deliver it anyway (downstream is draining), then end. Shielded from
                # the stop only: an abort still ends the wait (shutdown.py).
                await stop.finish_item(send, tx, item)
                return
            await send(tx, item)

    return Stream(TaskSource(pump, "from_receive_stream"))


def _stop_requested(stop: StopState) -> bool:
    # A function, not the attribute: type checkers narrow ``stop.stopping`` from the loop
    # condition and cannot know that another task set it during the await.
    return stop.stopping


# -- lines of a file -------------------------------------------------------------------


@overload
def from_lines(
    path_or_file: str | os.PathLike[str], *, encoding: str = ..., errors: str = ...
) -> Stream[str]: ...
@overload
def from_lines(
    path_or_file: IO[AnyStr] | anyio.AsyncFile[AnyStr], *, encoding: str = ..., errors: str = ...
) -> Stream[AnyStr]: ...
def from_lines(
    path_or_file: str | os.PathLike[str] | IO[Any] | anyio.AsyncFile[Any],
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> Stream[Any]:
    """The lines of a file, one item per line, without the trailing newline.

    ``path_or_file`` is a path (opened afresh by every run, closed at its end, decoded
    with ``encoding``/``errors``), ``"-"`` for standard input, or an open file, sync or
    ``anyio.AsyncFile``, text or binary (binary files give ``bytes`` lines). An open file
    is read from its current position and not closed: the caller owns it.

    Reading never blocks the event loop. A regular file is read in worker threads about
    64 KiB of lines at a time. A FIFO (named pipe) given by its path is opened
    non-blocking and read by the event loop whenever it is readable: the stream waits,
    without any thread, for a writer to open it and write, emits each line as soon as
    it is written, and ends when the last writer closes it. A stop, a cancellation or
    Ctrl-C ends that wait at once, even if no writer ever comes; a last line still
    missing its newline at that moment is discarded. Anything else that may block
    indefinitely (stdin, a pipe or FIFO given as an open file, a terminal) is read line
    by line by a daemon thread, so each line is emitted as soon as it is written, and a
    graceful stop or Ctrl-C ends the stream at once even while nobody types: the reader
    thread may then still be blocked reading one more line, which is discarded (a
    daemon thread never holds up the interpreter's exit).

    A ``"\\n"`` or ``"\\r\\n"`` ending is removed; a last line without one is emitted as
    is. aiostream has no counterpart.
    """
    _check_codec(encoding, errors)
    if isinstance(path_or_file, str | os.PathLike):
        path = os.fspath(path_or_file)
        if not isinstance(path, str):
            raise TypeError(f"from_lines(): a bytes path is not supported, got {path!r}")
        if path == "-":
            # sys.stdin is looked up per run, so a redirected stdin is honoured.
            return Stream(FactorySource(lambda: _lines(sys.stdin, None), "from_lines(-)"))

        def opener() -> IO[str] | _Fifo:
            try:
                if stat.S_ISFIFO(os.stat(path).st_mode):
                    # Opened non-blocking: a blocking open() of a FIFO waits for a writer
                    # and cannot be interrupted (see _fifo_lines).
                    return _Fifo(os.open(path, os.O_RDONLY | os.O_NONBLOCK), encoding, errors)
                return open(path, encoding=encoding, errors=errors)  # _lines closes it
            except OSError as exc:
                # One line with the path and the reason, of the same class (so
                # FileNotFoundError, IsADirectoryError, PermissionError still match).
                reason = exc.strerror or type(exc).__name__
                raise type(exc)(f"from_lines(): cannot open {path!r}: {reason}") from None

        return Stream(FactorySource(lambda: _lines(None, opener), f"from_lines({path})"))
    fp: Any = path_or_file.wrapped if isinstance(path_or_file, anyio.AsyncFile) else path_or_file
    if not callable(getattr(fp, "readline", None)):
        raise TypeError(
            "from_lines(): path_or_file must be a path, '-' for stdin, or an open file, "
            f"got {type(path_or_file).__name__}"
        )
    name = getattr(fp, "name", None)
    return Stream(FactorySource(lambda: _lines(fp, None), f"from_lines({name or 'file'})"))


def _strip_newline(line: AnyStr) -> AnyStr:
    nl: Any = "\n" if isinstance(line, str) else b"\n"
    cr: Any = "\r" if isinstance(line, str) else b"\r"
    if line.endswith(nl):
        line = line[:-1]
        if line.endswith(cr):
            line = line[:-1]
    return line


def _may_block(fp: Any) -> bool:
    """False for a regular file or an in-memory one (reads that always return soon)."""
    try:
        fd = fp.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # io.StringIO / BytesIO and friends
    try:
        return not stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return True


async def _lines(fp: Any, opener: Callable[[], Any] | None) -> AsyncIterator[Any]:
    """Lines of ``fp``, or of the file ``opener()`` returns (which is then closed at the end)."""
    close = opener is not None
    if opener is not None:
        # Shielded: a cancellation arriving during the open would leak the opened file.
        # Nothing in the opener waits for anyone: a FIFO is opened non-blocking.
        with CancelScope(shield=True):
            fp = await anyio.to_thread.run_sync(opener)
    if isinstance(fp, _Fifo):
        async for line in _fifo_lines(fp):
            yield line
        return
    if not _may_block(fp):
        try:
            while True:
                # Not abandoned on cancellation: a regular file read returns promptly,
                # and closing a file while a thread still reads it is not safe.
                lines = await anyio.to_thread.run_sync(fp.readlines, LINES_BATCH_BYTES)
                if not lines:
                    return
                for line in lines:
                    yield _strip_newline(line)
        finally:
            if close:
                with CancelScope(shield=True):
                    await anyio.to_thread.run_sync(fp.close)
    # Reads that may block forever (stdin, pipes, FIFOs, terminals) go through a daemon
    # thread. anyio's worker threads are not abandoned for this: on asyncio they are not
    # daemon threads, so one stuck in readline() on a terminal would hold up the
    # interpreter's exit until the user pressed Enter. The thread hands each line over
    # through a rendezvous, so it reads at most one line ahead. It owns ``fp`` from now
    # on and closes it (when we opened it) on its way out: closing a file from the event
    # loop while another thread is blocked reading it would block the loop.
    tx, rx = anyio.create_memory_object_stream[Any](0)
    thread = threading.Thread(
        target=_reader_thread,
        args=(fp, close, tx, anyio.lowlevel.current_token()),
        name="anystream from_lines reader",
        daemon=True,
    )
    with tx, rx:  # closing tx too makes a thread still waiting to send give up
        thread.start()
        while True:
            try:
                line = await rx.receive()
            except EndOfStream:
                return
            yield line


class _Fifo:
    """A FIFO opened non-blocking by ``from_lines(path)``: its descriptor and codec."""

    def __init__(self, fd: int, encoding: str, errors: str) -> None:
        self.fd = fd
        self.encoding = encoding
        self.errors = errors


async def _fifo_lines(fifo: _Fifo) -> AsyncIterator[str]:
    """Lines of a FIFO opened with ``O_NONBLOCK``, read when the event loop says it is readable.

    Opening a FIFO for reading blocks until a writer opens it, and a thread blocked in
    ``open()`` can be neither cancelled nor abandoned safely (the file it opens later
    would leak; on asyncio a worker thread also holds up the interpreter's exit). Opened
    non-blocking, the FIFO is "readable" only once a writer has written or has come and
    gone, so the wait is an ordinary cancellable ``anyio.wait_readable``. A read of
    zero bytes after that is the end of the input (every writer closed it). Decoding
    matches a text-mode ``open()``: ``encoding``/``errors``, and ``\r\n`` or ``\r``
    read as a line end.
    """
    fd = fifo.fd
    decoder = io.IncrementalNewlineDecoder(
        codecs.getincrementaldecoder(fifo.encoding)(fifo.errors), translate=True
    )
    pending: list[str] = []  # the start of a line whose end has not arrived yet
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, LINES_BATCH_BYTES)
            except BlockingIOError:  # another reader of the FIFO took the data
                continue
            if not chunk:
                last = "".join(pending) + decoder.decode(b"", final=True)
                if last:
                    yield last
                return
            lines = decoder.decode(chunk).split("\n")
            if len(lines) == 1:  # no line end yet: joined once it comes, not per chunk
                pending.append(lines[0])
                continue
            pending.append(lines[0])
            first, pending = "".join(pending), [lines[-1]]
            yield first
            for line in lines[1:-1]:
                yield line
    finally:
        os.close(fd)


def _reader_thread(
    fp: Any, close: bool, tx: MemoryObjectSendStream[Any], token: anyio.lowlevel.EventLoopToken
) -> None:
    try:
        while True:
            line = fp.readline()
            if not line:
                break
            anyio.from_thread.run(tx.send, _strip_newline(line), token=token)
    except BaseException:
        pass  # the consumer left (tx closed) or the event loop ended: just stop reading
    finally:
        if close:
            fp.close()
    # End of input for the consumer; if the event loop is gone, the consumer closed tx.
    with contextlib.suppress(BaseException):
        anyio.from_thread.run_sync(tx.close, token=token)


def _check_codec(encoding: object, errors: object) -> None:
    """Refuse an unknown ``encoding`` or ``errors`` handler when the stream is built."""
    if not isinstance(encoding, str):
        raise TypeError(f"from_lines(): encoding must be a codec name (str), got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"from_lines(): unknown encoding {encoding!r}") from None
    if not isinstance(errors, str):
        raise TypeError(f"from_lines(): errors must be an error handler name, got {errors!r}")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(
            f"from_lines(): unknown errors handler {errors!r}; expected one of 'strict', "
            "'replace', 'ignore', 'backslashreplace', 'surrogateescape', ..."
        ) from None
