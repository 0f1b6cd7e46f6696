"""aiostream interop: aiostream streams as sources, anystream runs as aiostream streams.

aiostream (GPL-3.0-or-later, an optional extra: ``pip install 'anystream[aiostream]'``)
runs only on asyncio, so everything here does too. Nothing of aiostream's code is copied;
this module only calls its public API.

In: an aiostream stream as a source
    :func:`from_aiostream` makes a :class:`~anystream.Stream` of an aiostream stream. Each
    run iterates it inside its own ``async with xs.stream()`` context, which is how
    aiostream wants to be iterated: ``from_iterable(xs)`` also works, but aiostream then
    warns that its streamer "is iterated outside of its context" (an error under
    ``-W error``), and nothing guarantees that aiostream's clean-up runs.

Out: a run as an aiostream stream
    A pipeline with staged operators needs the runner's task group, and a task group
    lives only inside ``async with stream.stream() as items`` (docs/concepts.md). So
    the hand-off happens *inside* that block: :func:`to_aiostream` wraps the running
    ``items`` (an async iterator) with ``aiostream.stream.iterate``, and
    :func:`open_aiostream` does both steps in one ``async with``::

        async with open_aiostream(pipeline) as xs:        # xs: an aiostream Stream
            ys = xs | aiostream.pipe.map(str)
            async with ys.stream() as streamer:
                async for y in streamer:
                    ...

    The aiostream stream is single-use (it iterates one run); leaving the block ends
    the run, whatever aiostream is still doing with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from types import TracebackType
from typing import Generic, TypeVar

try:
    import aiostream
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "anystream.connectors.aiostream needs aiostream: pip install 'anystream[aiostream]'"
    ) from _missing

from .._core.owned import Owned
from .._core.runner import Run
from .._core.source import FactorySource
from .._core.stream import Stream

__all__ = ["from_aiostream", "open_aiostream", "to_aiostream"]

T = TypeVar("T")


def _require_asyncio(what: str) -> None:
    """Fail clearly on trio: aiostream would fail later with a confusing error."""
    try:
        import sniffio  # trio depends on it, anyio no longer does
    except ImportError:  # pragma: no cover - then trio is not installed either
        return
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return  # not in async code yet: the check happens again when it runs
    if library != "asyncio":
        raise RuntimeError(
            f"{what}: aiostream runs only on asyncio (library limitation), "
            f"but this code runs on {library}"
        )


def from_aiostream(source: AsyncIterable[T], name: str = "aiostream") -> Stream[T]:
    """A stream of the items of an aiostream stream (or any async iterable), in order.

    ::

        from aiostream import pipe, stream
        s = from_aiostream(stream.range(5) | pipe.map(lambda n: n * 2)) | take(3)
        assert await s.collect() == [0, 2, 4]

    Every run iterates ``source`` afresh inside ``async with source.stream()`` when it
    has a ``stream()`` method (an aiostream stream), so aiostream's own clean-up runs when
    the run ends, early exits included. Other async iterables are iterated directly.
    """
    if not isinstance(source, AsyncIterable):
        raise TypeError(
            f"from_aiostream(): source must be an aiostream stream or an async iterable, "
            f"got {type(source).__name__}"
        )

    def factory() -> AsyncIterator[T]:
        return _iterate_in_context(source)

    return Stream(FactorySource(factory, name))


async def _iterate_in_context(source: AsyncIterable[T]) -> AsyncIterator[T]:
    _require_asyncio("from_aiostream()")
    if isinstance(source, aiostream.Stream):
        # A streamer context only guarantees aclose(): no task group or cancel scope of
        # ours stays open across the yield (aiostream's own tasks are its business).
        async with source.stream() as streamer:
            async for item in streamer:
                yield item
    else:
        async for item in source:
            yield item


def to_aiostream(items: Run[T] | AsyncIterable[T]) -> aiostream.Stream[T]:
    """Wrap a running pipeline (the ``items`` of ``async with s.stream() as items``).

    Returns ``aiostream.stream.iterate(items)``: an aiostream stream that reads the run.
    Use it inside the ``async with`` block only; see the module docstring.
    """
    if not isinstance(items, AsyncIterable):
        raise TypeError(
            f"to_aiostream(): items must be a running stream (the target of "
            f"'async with stream.stream() as items'), got {type(items).__name__}"
        )
    _require_asyncio("to_aiostream()")
    return aiostream.stream.iterate(_Unclosable(items))


class _Unclosable(AsyncIterator[T]):
    """An async iterator over ``items`` that aiostream cannot close.

    aiostream ``aclose()``-s what it iterates as soon as *it* is done (after a ``take``,
    say). The run's iterator belongs to the run's ``async with`` block, which closes it
    itself and, seeing it unfinished, ends the run (cancelling the tasks still feeding
    it). Closed early from outside, the runner would take it for finished and wait for
    upstream tasks that are blocked sending to it.
    """

    __slots__ = ("_items", "_iterator")

    def __init__(self, items: AsyncIterable[T]) -> None:
        self._items = items
        self._iterator: AsyncIterator[T] | None = None

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        if self._iterator is None:
            self._iterator = aiter(self._items)
        return anext(self._iterator)


class open_aiostream(Generic[T]):
    """``async with open_aiostream(stream) as xs``: run ``stream``, see it as aiostream.

    Enters ``stream.stream()`` and gives :func:`to_aiostream` of the run; leaving the
    block ends the run (and closes everything it opened), like leaving the run's own
    ``async with``. Keyword arguments go to :meth:`~anystream.Stream.stream`.
    """

    def __init__(
        self, stream: Stream[T], *, handle_signals: bool = False, grace: float | None = None
    ) -> None:
        if not isinstance(stream, Stream):
            raise TypeError(
                f"open_aiostream(): stream must be an anystream Stream, got {type(stream).__name__}"
            )
        self._run = stream.stream(handle_signals=handle_signals, grace=grace)
        self._owned = Owned()  # holds the run open from __aenter__ to __aexit__

    async def __aenter__(self) -> aiostream.Stream[T]:
        _require_asyncio("open_aiostream()")
        run = await self._owned.enter(self._run)
        return aiostream.stream.iterate(_Unclosable(run))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._owned.exit(exc_type, exc, tb)
