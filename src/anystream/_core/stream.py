"""``Stream``: a cold, re-runnable description of a pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, overload

from .background import BackgroundRun
from .operator import (
    Operator,
    Pipeable,
    SameOperator,
    SamePipeable,
    Step,
    apply_stream_function,
    is_anystream_factory,
)
from .runner import Run
from .shutdown import check_grace
from .source import Source
from .stats import RunStats

if TYPE_CHECKING:
    from .explain import Explanation

__all__ = ["Stream"]

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")
_A1 = TypeVar("_A1")
_A2 = TypeVar("_A2")
_A3 = TypeVar("_A3")
_A4 = TypeVar("_A4")
_A5 = TypeVar("_A5")
_A6 = TypeVar("_A6")
_A7 = TypeVar("_A7")
_A8 = TypeVar("_A8")


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

    @overload
    def __or__(self, op: SameOperator) -> Stream[T_co]: ...
    @overload
    def __or__(self, op: Pipeable[T_co, U]) -> Stream[U]: ...
    @overload
    def __or__(self, op: Callable[[Stream[T_co]], Stream[U]]) -> Stream[U]: ...
    def __or__(
        self, op: Pipeable[Any, Any] | SameOperator | Callable[[Stream[Any]], Stream[Any]]
    ) -> Stream[Any]:
        """``self`` with ``op`` applied: an operator's steps appended, or ``op(self)``.

        ``op`` is an :class:`Operator` or a function from stream to stream (what a
        generic ``@operator`` that changes the item type is typed as, or the user's
        own), which is called with this stream and must return a :class:`Stream`.
        """
        if isinstance(op, Operator):
            return self._extend(op.steps)
        what = "stream | x needs an anystream operator or a Stream -> Stream function on the right"
        if not callable(op) or isinstance(op, type) or is_anystream_factory(op):
            _refuse(what, op)
        return apply_stream_function(what, op, self)

    # -- pipe() overloads: written by tests/typing/pipe_overloads.py, do not edit --
    @overload
    def pipe(
        self,
        op1: SameOperator,
        /,
    ) -> Stream[T_co]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        /,
    ) -> Stream[T_co]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        /,
    ) -> Stream[T_co]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[T_co]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[T_co, _A4],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Callable[[Stream[T_co]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[T_co]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[T_co, _A5],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[T_co, _A4],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[T_co, _A4],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Pipeable[T_co, _A3],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A2, _A5] | Callable[[Stream[_A2]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Pipeable[T_co, _A2],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A1, _A5] | Callable[[Stream[_A1]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A2, _A5] | Callable[[Stream[_A2]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: Callable[[Stream[T_co]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Callable[[Stream[T_co]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: SameOperator,
        op4: Callable[[Stream[T_co]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: SameOperator,
        op3: Callable[[Stream[T_co]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A2, _A5] | Callable[[Stream[_A2]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: SameOperator,
        op2: Callable[[Stream[T_co]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A1]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A1, _A5] | Callable[[Stream[_A1]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: SameOperator,
        op4: Pipeable[_A1, _A4] | Callable[[Stream[_A1]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: SameOperator,
        op3: Pipeable[_A1, _A3] | Callable[[Stream[_A1]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A2]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: SameOperator,
        op5: Pipeable[_A2, _A5] | Callable[[Stream[_A2]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: SameOperator,
        op4: Pipeable[_A2, _A4] | Callable[[Stream[_A2]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: SameOperator,
        /,
    ) -> Stream[_A3]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: SameOperator,
        op5: Pipeable[_A3, _A5] | Callable[[Stream[_A3]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: SameOperator,
        /,
    ) -> Stream[_A4]: ...
    @overload
    def pipe(
        self,
        op1: Callable[[Stream[T_co]], Stream[_A1]],
        op2: Pipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        /,
    ) -> Stream[_A5]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1] | SamePipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | SamePipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | SamePipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | SamePipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | SamePipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        op6: Pipeable[_A5, _A6] | SamePipeable[_A5, _A6] | Callable[[Stream[_A5]], Stream[_A6]],
        /,
    ) -> Stream[_A6]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1] | SamePipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | SamePipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | SamePipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | SamePipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | SamePipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        op6: Pipeable[_A5, _A6] | SamePipeable[_A5, _A6] | Callable[[Stream[_A5]], Stream[_A6]],
        op7: Pipeable[_A6, _A7] | SamePipeable[_A6, _A7] | Callable[[Stream[_A6]], Stream[_A7]],
        /,
    ) -> Stream[_A7]: ...
    @overload
    def pipe(
        self,
        op1: Pipeable[T_co, _A1] | SamePipeable[T_co, _A1],
        op2: Pipeable[_A1, _A2] | SamePipeable[_A1, _A2] | Callable[[Stream[_A1]], Stream[_A2]],
        op3: Pipeable[_A2, _A3] | SamePipeable[_A2, _A3] | Callable[[Stream[_A2]], Stream[_A3]],
        op4: Pipeable[_A3, _A4] | SamePipeable[_A3, _A4] | Callable[[Stream[_A3]], Stream[_A4]],
        op5: Pipeable[_A4, _A5] | SamePipeable[_A4, _A5] | Callable[[Stream[_A4]], Stream[_A5]],
        op6: Pipeable[_A5, _A6] | SamePipeable[_A5, _A6] | Callable[[Stream[_A5]], Stream[_A6]],
        op7: Pipeable[_A6, _A7] | SamePipeable[_A6, _A7] | Callable[[Stream[_A6]], Stream[_A7]],
        op8: Pipeable[_A7, _A8] | SamePipeable[_A7, _A8] | Callable[[Stream[_A7]], Stream[_A8]],
        /,
    ) -> Stream[_A8]: ...
    # -- end of the generated pipe() overloads --
    def pipe(
        self,
        *operators: Pipeable[Any, Any]
        | SameOperator
        | SamePipeable[Any, Any]
        | Callable[[Stream[Any]], Stream[Any]],
    ) -> Stream[Any]:
        """Apply ``operators`` in order: ``s.pipe(a, b, c)`` is ``s | a | b | c``.

        The two forms build the same stream. ``pipe`` is the one to use when an operator
        takes a lambda: a type checker solves each operator's input type from the
        previous output only for function arguments, so in
        ``events.pipe(where(lambda e: e.ok), map(lambda e: e.value))`` it knows ``e`` is
        an event, where ``events | where(lambda e: e.ok)`` leaves ``e`` unknown in
        pyright. Up to eight operators per call (chain ``.pipe()`` calls for more).

        Besides operators, a function from stream to stream is accepted in any position
        (``events.pipe(where(ok), only_big)``, with ``def only_big(s: Stream[E]) ->
        Stream[E]``), as is what a generic ``@operator`` that changes the item type
        gives (``events.pipe(listed())``). It is called with the stream built so far and
        must return a :class:`Stream`. Anything else is a ``TypeError`` naming its
        position.
        """
        out: Stream[Any] = self
        pending: tuple[Step, ...] = ()
        for i, op in enumerate(operators, 1):
            if isinstance(op, Operator):
                pending += op.steps
                continue
            what = (
                f"pipe(): operator {i} must be an anystream operator or a Stream -> Stream function"
            )
            # An operator factory passed without calling it (``take`` for ``take(3)``) is
            # callable too: refuse the package's own before calling them with a stream.
            if not callable(op) or isinstance(op, type) or is_anystream_factory(op):
                _refuse(what, op)
            out = apply_stream_function(what, op, out._extend(pending))
            pending = ()
        return out._extend(pending)

    def _extend(self, steps: tuple[Step, ...]) -> Stream[Any]:
        return Stream(self._source, self._steps + steps)

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
        check_grace("stream()", grace)
        if not isinstance(handle_signals, bool):
            raise TypeError(
                f"stream(): handle_signals must be True or False, got {handle_signals!r}"
            )
        return Run(
            self,
            handle_signals=handle_signals,
            grace=grace,
            timing=timing,
            clock=clock,
            progress=progress,
        )

    async def start(
        self, *, keep: bool = False, progress: bool = False, timing: bool = False
    ) -> BackgroundRun[T_co]:
        """Start a run in the background; return once it runs (see ``_core/background.py``).

        ``run = await stream.start()`` hands back a :class:`BackgroundRun` whose own task
        consumes the run, counting the items (``keep=True`` also keeps them in
        ``run.items``), while the caller goes on: meant for notebooks, where one cell
        starts a run and later cells look at it (``run.stats()``) and stop it
        (``await run.stop()``). ``progress=True`` draws the live view (in Jupyter, in the
        output of the cell that started it); ``timing=True`` as for :meth:`stream`.
        """
        for name, flag in (("keep", keep), ("progress", progress), ("timing", timing)):
            if not isinstance(flag, bool):
                raise TypeError(f"start(): {name} must be True or False, got {flag!r}")
        handle: BackgroundRun[T_co] = BackgroundRun(
            self, keep=keep, progress=progress, timing=timing
        )
        await handle._start()
        return handle

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

    # Defined for the run time only: to a type checker a Stream is not async-iterable, so
    # ``async for x in stream`` is reported where it is written, and a function returning
    # a Stream matches flat_map's Stream overload alone (not also its AsyncIterable one,
    # which would solve the inner item type to Never).
    if not TYPE_CHECKING:

        def __aiter__(self) -> NoReturn:
            raise TypeError(
                "a Stream is a description, not an iterator: iterate a run of it with "
                "'async with stream.stream() as items: async for item in items: ...' "
                "or get a list with 'await stream.collect()'"
            )

    def explain(self) -> Explanation:
        """Describe what a run will execute, without running anything.

        The source, each fused segment with its operators, each boundary with its
        capacity and overflow policy, each staged operator with its concurrency, and
        ``memory_bound``: the README's "Memory bound" computed from the plan. ``str()``
        of it is a compact text view; in a notebook it shows as an SVG diagram.
        """
        from .explain import explain

        return explain(self._source, self._steps)

    def _repr_html_(self) -> str:
        return self.explain()._repr_html_()

    def __repr__(self) -> str:
        parts = [self._source.name] + [step.name for step in self._steps]
        return f"Stream({' | '.join(parts)})"

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @property
    def source(self) -> Source[Any]:
        return self._source


def _refuse(what: str, op: object) -> NoReturn:
    raise TypeError(
        f"{what}, got {type(op).__name__} {op!r:.60} (did you forget to call it, e.g. "
        "take(3) rather than take?)"
    )
