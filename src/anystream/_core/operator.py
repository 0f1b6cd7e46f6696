"""Operators: what ``stream | op`` appends, and the three shapes an operator can take.

An :class:`Operator` is an immutable list of *steps*. ``op1 | op2`` concatenates the
lists, so a composed operator is just a longer list that can be applied to any number of
streams. There are three kinds of step, and the difference between them is the whole
design of the runner (docs/concepts.md):

:class:`Kernel`
    A per-item operation the runner knows by name (``map``, ``where``, ``parse``,
    ``take``, ``map_async`` with one call at a time). Consecutive kernels are *fused*: the
    runner generates one loop that applies them all (see ``fuse.py``), which removes a
    generator layer per operator.
:class:`GenStep`
    A per-item operator written as an ``async def`` generator over its upstream (``scan``,
    ``enumerate``, user operators made with :func:`operator`). It runs in the same task
    as its neighbours; it never opens a task group or cancel scope across a ``yield``.
:class:`StagedStep`
    Anything that needs a task or a clock (``buffered``, concurrent ``map_async``, every
    time-based operator). It runs as a task owned by the runner, reading from one bounded
    memory object stream and writing to another. ``buffered(n)`` is a staged step with no
    task at all: just the boundary, with room for ``n`` items.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    final,
    overload,
)

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .shutdown import StopState
    from .stats import OpStats, StageCounts
    from .stream import Stream

__all__ = [
    "GenStep",
    "ItemOfAnyType",
    "Kernel",
    "Operator",
    "Pipeable",
    "SameOperator",
    "SamePipeable",
    "StageContext",
    "StagedStep",
    "Step",
    "operator",
    "step_name",
]

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
X = TypeVar("X")
T_contra = TypeVar("T_contra", contravariant=True)
U_co = TypeVar("U_co", covariant=True)
P = ParamSpec("P")
OpT = TypeVar("OpT", bound="Operator[Any, Any]")

KernelKind = Literal["map", "amap", "filter", "afilter", "parse", "take"]
Overflow = Literal["block", "drop_oldest", "drop_newest", "latest"]


class Step:
    """One element of an operator's step list. ``name`` appears in stats and error notes."""

    __slots__ = ("name",)
    name: str


class Kernel(Step):
    """A fusable per-item operation (see ``fuse.py`` for how each kind is compiled)."""

    __slots__ = ("arg", "fn", "kind")

    def __init__(self, kind: KernelKind, name: str, fn: Any = None, arg: Any = None) -> None:
        self.kind = kind
        self.name = name
        self.fn = fn
        self.arg = arg


class GenStep(Step):
    """A per-item operator given as ``make(upstream) -> async iterator``."""

    __slots__ = ("make",)

    def __init__(self, name: str, make: Callable[[AsyncIterator[Any]], AsyncIterator[Any]]):
        self.name = name
        self.make = make


@dataclass
class StageContext:
    """What the runner hands a staged operator's task besides its two streams.

    ``counts`` is the operator's :class:`StageCounts`, which ``stats`` reads live:
    increment ``counts.received`` per item taken from the input and ``counts.emitted``
    per item sent, directly (an attribute increment is cheaper than a property). Use
    ``stats.drop(reason)`` for anything discarded.
    """

    stats: OpStats
    counts: StageCounts
    #: The run's graceful-stop state: ``stop.stopping`` / ``await stop.wait()``. A staged
    #: operator with inputs of its own (``merge_with``) stops them when it is set; others
    #: need not look: a stop reaches them as the end of their input.
    stop: StopState | None = None


StageRun = Callable[
    ["MemoryObjectReceiveStream[Any]", "MemoryObjectSendStream[Any]", StageContext],
    Awaitable[None],
]


class StagedStep(Step):
    """A step that runs as its own task (``run`` set) or is only a boundary (``run=None``).

    ``capacity`` is the size of the memory stream that feeds this step and ``overflow``
    what happens when it is full. The task reads its input with ``receive()``, writes with
    ``send()``, and returns at end of input; the runner closes both streams afterwards,
    so end-of-stream cascades downstream without the operator having to remember it.

    ``handoff`` sizes the *implicit* streams on both sides of the task when ``capacity``
    does not say otherwise: 0 (the default) is a direct rendezvous, one item at a time.
    A concurrent stage asks for room for one item per worker on each side, so that its
    workers and its neighbours trade items in batches instead of one task switch per
    item (see ``ops/_map_async.py``); the documented memory bound counts them.

    ``concurrency`` is how many items the task works on at once and ``holds`` the most
    items it keeps in hand (1 for a plain stage; ``2 * c`` for an ordered concurrent
    one): ``Stream.explain()`` reports them and adds ``holds`` to the memory bound.

    ``on_demand`` asks for an input that reads nothing ahead: when the step follows the
    source (and per-item operators) directly, the source is asked for its next item only
    once the task is waiting to receive one (``handoff.demand_link``). For sequential
    operators such as ``flat_map``, whose peers ask for the next outer item only after
    the current inner stream has ended.
    """

    __slots__ = (
        "capacity",
        "concurrency",
        "handoff",
        "holds",
        "on_demand",
        "overflow",
        "run",
        "tracked",
    )

    def __init__(
        self,
        name: str,
        run: StageRun | None,
        *,
        capacity: int = 0,
        overflow: Overflow = "block",
        tracked: StageRun | None = None,
        handoff: int = 0,
        concurrency: int = 1,
        holds: int = 1,
        on_demand: bool = False,
    ) -> None:
        self.name = name
        self.run = run
        self.on_demand = on_demand
        self.concurrency = concurrency
        self.holds = holds
        self.capacity = capacity
        self.handoff = handoff
        self.overflow = overflow
        # The implementation used when the source acknowledges items: it receives and
        # sends ``(value, token)`` pairs (see acks.py). None: the step does not support
        # acknowledgements and the runner refuses such a run with a clear error.
        self.tracked = tracked


class Operator(Generic[T_contra, U_co]):
    """A reusable pipeline step from items of type ``T`` to items of type ``U``.

    Apply it with ``stream | op`` or ``stream.pipe(op)``; compose with ``op1 | op2``.
    Operators hold no per-run state, so one operator object can be used in many streams
    and runs.
    """

    __slots__ = ("_steps",)

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self._steps = steps

    @property
    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @overload
    def __or__(self, other: SameOperator) -> Operator[T_contra, U_co]: ...
    @overload
    def __or__(self, other: Pipeable[U_co, V]) -> Operator[T_contra, V]: ...
    def __or__(self, other: Pipeable[Any, Any] | SameOperator) -> Operator[Any, Any]:
        if not isinstance(other, Operator):
            return NotImplemented
        return Operator(self._steps + other._steps)

    def _pipe_into(self, stream: Stream[T_contra], /) -> Stream[U_co]:
        """``stream | self``; the typed hook :meth:`Stream.pipe` solves its types through."""
        return stream._extend(self._steps)

    def __repr__(self) -> str:
        return " | ".join(step.name for step in self._steps) or "Operator()"


class SameOperator(Operator[Any, Any]):
    """An operator that emits items of the type it receives (``take``, ``buffered``, ...).

    It is not generic on purpose: ``take(3)`` is built before a checker knows which
    stream it will meet, so a type variable in its type would stay unsolved. Instead
    ``stream | same_op`` keeps the stream's item type (``Stream.__or__`` has an overload
    for it), ``same1 | same2`` is again a ``SameOperator``, and ``op | same`` keeps
    ``op``'s types.
    """

    __slots__ = ()

    @overload
    def __or__(self, other: OpT) -> OpT: ...
    @overload
    def __or__(self, other: Pipeable[Any, V]) -> Operator[Any, V]: ...
    def __or__(self, other: Pipeable[Any, Any]) -> Operator[Any, Any]:
        # ``same | other`` has other's type: a SameOperator, an Operator[T, U], or one of
        # the operator classes typed by the stream they meet (Enumerated, Chunked, ...).
        if not isinstance(other, Operator):
            return NotImplemented
        steps = self._steps + other._steps
        kind = type(other)
        # Every operator class of the package takes just its steps; a user's subclass
        # with another constructor gets a plain Operator.
        return kind(steps) if kind.__init__ is Operator.__init__ else Operator(steps)

    # Not a ``Pipeable``: its hook takes a keyword no caller passes, so in ``pipe()`` a
    # SameOperator matches only the overloads written for it (see Stream.pipe) and
    # never also a ``Pipeable`` one, which would make mypy's choice ambiguous.
    def _pipe_into(  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        self, stream: Stream[X], /, *, same: Literal[True]
    ) -> Stream[X]:
        return stream._extend(self._steps)

    def _pipe_same(self, stream: Stream[X], /) -> Stream[X]:
        """The hook :class:`SamePipeable` matches: the stream's item type, unchanged."""
        return stream._extend(self._steps)


class Pipeable(Protocol[T_contra, U_co]):
    """What :meth:`Stream.pipe` and ``|`` accept: an :class:`Operator` from ``T`` to ``U``.

    A protocol rather than ``Operator[T, U]`` so that the operator classes typed by the
    stream they meet (``Enumerated``, ``Chunked``, ``Windowed``, ..., whose hook is
    generic: ``Stream[X] -> Stream[tuple[int, X]]``) solve to that stream's item type.
    A :class:`SameOperator` is deliberately not one: it has overloads of its own (see
    :class:`SamePipeable`).
    """

    def _pipe_into(self, stream: Stream[T_contra], /) -> Stream[U_co]: ...


class SamePipeable(Protocol[T_contra, U_co]):
    """A :class:`SameOperator` seen as an operator from ``T`` to ``U`` (``U`` is ``T``).

    Used by the :meth:`Stream.pipe` overloads for six operators or more, which accept
    ``Pipeable[T, U] | SamePipeable[T, U]`` in every position instead of one overload
    per combination.
    """

    def _pipe_same(self, stream: Stream[T_contra], /) -> Stream[U_co]: ...


@final
class ItemOfAnyType:
    """A stand-in item type in :func:`operator`'s signature, never instantiated.

    A generator function generic in its item type (``AsyncIterator[T]`` in and out) is
    the only kind that accepts and yields this class, so the first overload of
    :func:`operator` picks out the type-preserving generic ones and types their factory
    as returning a :class:`SameOperator`; type checkers cannot keep the function's type
    variable open through the factory (mypy would solve it to ``Never``).
    """

    __slots__ = ()


@overload
def operator(
    fn: Callable[Concatenate[AsyncIterator[ItemOfAnyType], P], AsyncIterator[ItemOfAnyType]],
) -> Callable[P, SameOperator]: ...
@overload
def operator(
    fn: Callable[Concatenate[AsyncIterator[T], P], AsyncIterator[U]],
) -> Callable[P, Operator[T, U]]: ...
def operator(
    fn: Callable[Concatenate[AsyncIterator[T], P], AsyncIterator[U]],
) -> Callable[P, Operator[T, U]]:
    """Turn an async generator function over an upstream into an operator factory.

    ::

        @operator
        async def every_other(source: AsyncIterator[T]) -> AsyncIterator[T]:
            keep = True
            async for item in source:
                if keep:
                    yield item
                keep = not keep

        stream | every_other()

    The generator runs in the same task as its neighbours. It must not open a task
    group or cancel scope that stays open across a ``yield`` (use a staged operator for
    anything that needs a task or a timeout).

    Types: a generator generic in its item type (``AsyncIterator[T]`` in and out, as
    above) gives a factory returning a :class:`SameOperator`, so ``stream |
    every_other()`` keeps the stream's item type in mypy and pyright; one over concrete
    types gives ``Operator[In, Out]``. A generic one that changes the type (``T`` in,
    ``list[T]`` out) is solved by pyright in ``stream.pipe(...)`` but is
    ``Operator[Never, list[Never]]`` in mypy: write it for concrete types there, or
    ``cast`` at the use site.
    """
    if not inspect.isasyncgenfunction(fn):
        raise TypeError(
            "operator(): expected an async generator function (async def with yield) over "
            f"the upstream, got {fn!r}"
        )
    name = getattr(fn, "__name__", "operator")

    @functools.wraps(fn)
    def factory(*args: P.args, **kwargs: P.kwargs) -> Operator[T, U]:
        def make(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
            return fn(upstream, *args, **kwargs)

        # A SameOperator for every decorated function: right for the type-preserving
        # ones (the first overload) and an Operator all the same for the others.
        return SameOperator((GenStep(name, make),))

    return factory


def step_name(op: str, name: str | None, default: str) -> str:
    """The name a step shows in stats keys, error notes and progress views.

    ``default`` (built from the operator's arguments, e.g. ``where(main.<locals>.<lambda>)``)
    unless the caller passed ``name=``: then ``op(name)``, e.g. ``where(severity)``, so
    ``stats()["where(severity)"]`` finds it (and ``stats()["where"]`` still does).
    """
    if name is None:
        return default
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"{op}(): name must be a non-empty str, got {type(name).__name__} {name!r:.60}"
        )
    return f"{op}({name})"
