"""Sources: where a run's items come from.

A :class:`Source` is opened once per run. It hands the runner either a sync iterator
(iterated inline by the fused loop, no ``await`` per item), an async iterator, or a
task (``TaskSource``) that the runner starts in its own task group and that writes into
a memory object stream: the shape for sources that need concurrency themselves, such as
``merge``.

Streams are cold: a source that can be iterated again (a list, a range, a factory
function) runs afresh for every run. A one-shot iterator or generator can be consumed
once; a second run raises a clear error instead of silently producing nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from .shutdown import StopState

__all__ = ["IterableSource", "Source", "TaskSource"]

T_co = TypeVar("T_co", covariant=True)

Opened = tuple[Literal["iter"], Iterator[Any]] | tuple[Literal["aiter"], AsyncIterator[Any]]


class Source(Generic[T_co]):
    """Base class of every source. ``name`` shows in stats and error notes."""

    name: str = "source"
    #: True when the items are :class:`~anystream._core.acks.Acked` (see acks.py).
    acknowledged: bool = False

    def open(self) -> Opened:
        """Return ``("iter", iterator)`` or ``("aiter", async_iterator)`` for one run."""
        raise NotImplementedError


class IterableSource(Source[T_co]):
    """Items of a sync or async iterable (what :func:`from_iterable` builds)."""

    def __init__(
        self,
        iterable: Iterable[T_co] | AsyncIterable[T_co],
        name: str,
        *,
        acknowledged: bool = False,
    ) -> None:
        self.name = name
        self.acknowledged = acknowledged
        self._iterable = iterable
        self._one_shot_used = False
        if isinstance(iterable, AsyncIterable):
            self._is_async = True
        elif isinstance(iterable, Iterable):
            self._is_async = False
        else:
            raise TypeError(
                f"{name}: expected an iterable or async iterable, got {type(iterable).__name__}"
            )

    def open(self) -> Opened:
        if self._is_async:
            aiterable: AsyncIterable[Any] = self._iterable  # type: ignore[assignment]
            ait = aiterable.__aiter__()
            self._check_one_shot(ait is aiterable)
            if hasattr(ait, "__aenter__") and hasattr(ait, "__aexit__"):
                # An iterator that is also an async context manager (aiostream's streamer)
                # expects to be iterated inside its context, which it uses to clean up.
                return ("aiter", _iterate_in_context(ait))
            return ("aiter", ait)
        iterable: Iterable[Any] = self._iterable  # type: ignore[assignment]
        it = iter(iterable)
        self._check_one_shot(it is iterable)
        return ("iter", it)

    def _check_one_shot(self, one_shot: bool) -> None:
        if not one_shot:
            return
        if self._one_shot_used:
            raise RuntimeError(
                f"{self.name}: this source is a one-shot iterator (a generator or iterator) "
                "that an earlier run already consumed; pass something that can be iterated "
                "again (a list, a range, or a function returning a fresh iterator) to run "
                "the stream more than once"
            )
        self._one_shot_used = True


async def _iterate_in_context(ait: Any) -> AsyncIterator[Any]:
    async with ait:
        async for item in ait:
            yield item


class FactorySource(Source[T_co]):
    """Items of ``factory()``, called afresh for every run."""

    def __init__(
        self, factory: Callable[[], Iterable[T_co] | AsyncIterable[T_co]], name: str
    ) -> None:
        self.name = name
        self._factory = factory

    def open(self) -> Opened:
        made = self._factory()
        if isinstance(made, AsyncIterable):
            return ("aiter", made.__aiter__())
        if isinstance(made, Iterable):
            return ("iter", iter(made))
        raise TypeError(
            f"{self.name}: the factory must return an iterable or async iterable, "
            f"got {type(made).__name__}"
        )


TaskRun = Callable[["MemoryObjectSendStream[Any]", "StopState"], Awaitable[None]]


class TaskSource(Source[T_co]):
    """A source that runs as a task writing into a memory object stream.

    ``run(send, stop)`` sends items with ``send.send()`` and returns at the end of its
    input; the runner closes ``send`` afterwards. On a graceful stop it should return
    soon after ``stop.stopping`` becomes true; while it sets ``stop.pulling`` the runner
    may cancel it to stop a wait on its own inputs (never while it is sending).

    ``inputs`` are the streams it runs (``merge``, ``concat``), for ``Stream.explain()``.
    """

    def __init__(
        self,
        run: TaskRun,
        name: str,
        *,
        acknowledged: bool = False,
        inputs: tuple[Any, ...] = (),
    ) -> None:
        self.name = name
        self.run = run
        self.acknowledged = acknowledged
        self.inputs = inputs
