"""Error policies: what an operator does when user code raises for one item.

``on_error`` is accepted by operators that call user code per item (``map_async`` today):

- ``"raise"`` (default): the exception ends the run, reaching the caller as itself with
  a note naming the operator.
- ``"drop"``: the item is discarded and counted as ``dropped["error:<ExceptionType>"]``
  on the operator's stats; the pipeline keeps going.
- a callable, e.g. a :class:`DeadLetters` collector: the item is *dead-lettered*: the
  callable receives a :class:`DeadLetter` holding the item, the exception, the
  operator's name and how many attempts were made; the operator's ``dead_lettered``
  counter goes up and the pipeline keeps going. If the callable itself raises, that
  error ends the run (a dead-letter sink that fails must not lose items silently).

Only ``Exception`` subclasses are handled: cancellation, ``KeyboardInterrupt`` and
``SystemExit`` always propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from .._core.callables import check_callable
from .._core.errors import add_operator_note
from .._core.source import IterableSource
from .._core.stats import OpStats
from .._core.stream import Stream

__all__ = ["DeadLetter", "DeadLetters", "OnError"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeadLetter(Generic[T]):
    """An item an operator gave up on, with why."""

    item: T
    error: Exception
    operator: str
    attempts: int = 1

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


OnError = Literal["raise", "drop"] | Callable[[DeadLetter[Any]], object]


class DeadLetters(Generic[T]):
    """A dead-letter output: pass it as ``on_error=``; read what it caught afterwards.

    ::

        dead = DeadLetters()
        s = source | map_async(write, retry=Retry(attempts=5), on_error=dead)
        await s.collect()
        for letter in dead:                    # or: await dead.stream().collect()
            print(letter.item, letter.reason, letter.attempts)

    ``max_items`` bounds memory; letters beyond it are counted in ``overflowed`` (never
    silently lost) but not kept. Callable from any task of the event loop.
    """

    def __init__(self, *, max_items: int | None = None) -> None:
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, int)
        ):
            raise TypeError(f"DeadLetters(): max_items must be an int or None, got {max_items!r}")
        if max_items is not None and max_items < 0:
            raise ValueError(f"DeadLetters(): max_items must be >= 0, got {max_items}")
        self._max = max_items
        self._letters: list[DeadLetter[T]] = []
        self.overflowed: int = 0

    def __call__(self, letter: DeadLetter[T]) -> None:
        if self._max is not None and len(self._letters) >= self._max:
            self.overflowed += 1
            return
        self._letters.append(letter)

    @property
    def count(self) -> int:
        """Every letter received, kept or not."""
        return len(self._letters) + self.overflowed

    def __len__(self) -> int:
        return len(self._letters)

    def __iter__(self) -> Iterator[DeadLetter[T]]:
        return iter(list(self._letters))

    def stream(self) -> Stream[DeadLetter[T]]:
        """The letters kept so far, as a stream (a snapshot taken when it runs)."""
        return Stream(IterableSource(_Snapshot(self), "dead_letters"))


class _Snapshot(Generic[T]):
    def __init__(self, owner: DeadLetters[T]) -> None:
        self._owner = owner

    def __iter__(self) -> Iterator[DeadLetter[T]]:
        return iter(self._owner)


def check_on_error(op: str, on_error: object) -> OnError:
    """Validate an ``on_error`` argument at construction."""
    if on_error == "raise":
        return "raise"
    if on_error == "drop":
        return "drop"
    if isinstance(on_error, str):
        raise ValueError(
            f"{op}(): on_error must be 'raise', 'drop' or a dead-letter callable, got {on_error!r}"
        )
    check_callable(op, "on_error", on_error)
    return on_error  # type: ignore[return-value]


class ErrorHandler:
    """An ``on_error`` policy bound to one operator of one run."""

    __slots__ = ("_name", "_policy", "_stats")

    def __init__(self, policy: OnError, name: str, stats: OpStats) -> None:
        self._policy = policy
        self._name = name
        self._stats = stats

    @property
    def raises(self) -> bool:
        return self._policy == "raise"

    @property
    def dead_letters(self) -> bool:
        """The policy is a dead-letter callable (not ``"raise"`` or ``"drop"``)."""
        return callable(self._policy)

    def handle(self, exc: Exception, item: Any, attempts: int = 1) -> None:
        """Drop or dead-letter ``item``; re-raise ``exc`` (with a note) under ``"raise"``."""
        policy = self._policy
        if policy == "raise":
            add_operator_note(exc, self._name)
            raise exc
        if policy == "drop":
            self._stats.drop(f"error:{type(exc).__name__}")
            return
        assert callable(policy)
        self._stats.dead_lettered += 1
        try:
            policy(DeadLetter(item, exc, self._name, attempts))
        except Exception as sink_error:
            add_operator_note(sink_error, f"{self._name} (its on_error dead-letter callable)")
            raise
