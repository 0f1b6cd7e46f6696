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
    cast,
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
Y = TypeVar("Y")
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

    A function from stream to stream composes with an operator on either side of ``|``
    (``op | fn``, ``fn | op``): the result is such a function too, applying both in turn
    (and typed so).
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
    @overload
    def __or__(
        self, other: Callable[[Stream[U_co]], Stream[V]]
    ) -> Callable[[Stream[T_contra]], Stream[V]]: ...
    def __or__(self, other: object) -> object:
        if isinstance(other, Operator):
            return _composed(Operator, self, other)
        then = _then(self, other)
        return NotImplemented if then is None else then

    def __ror__(
        self, other: Callable[[Stream[X]], Stream[T_contra]]
    ) -> Callable[[Stream[X]], Stream[U_co]]:
        # A left side that is an operator composes in its own ``__or__`` (Python asks a
        # subclass's ``__ror__`` first: ``where(f) | take(2)`` lands here, and must stay
        # one list of steps); anything else is a function from stream to stream, run
        # before this operator.
        left: object = other  # typed as a function, which an operator is not for checkers
        if isinstance(left, Operator):
            composed: object = left.__or__(self)  # pyright: ignore[reportUnknownMemberType]
            return cast("Callable[[Stream[X]], Stream[U_co]]", composed)
        then = _then(other, self)
        return NotImplemented if then is None else then

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
    @overload
    def __or__(
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[Y]]: ...
    def __or__(self, other: object) -> object:
        # ``same | other`` has other's type: a SameOperator, an Operator[T, U], one of
        # the operator classes typed by the stream they meet (Enumerated, Chunked, ...),
        # or a function from stream to stream (a generic ``@operator`` one is typed so).
        if not isinstance(other, Operator):
            then = _then(self, other)
            return NotImplemented if then is None else then
        kind = type(other)
        # Every operator class of the package takes just its steps; a user's subclass
        # with another constructor gets a plain Operator.
        return _composed(kind if kind.__init__ is Operator.__init__ else Operator, self, other)

    def __ror__(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, other: Callable[[Stream[X]], Stream[Y]]
    ) -> Callable[[Stream[X]], Stream[Y]]:
        left: object = other
        if isinstance(left, Operator):  # ``where(f) | take(2)``: see Operator.__ror__
            composed: object = left.__or__(self)  # pyright: ignore[reportUnknownMemberType]
            return cast("Callable[[Stream[X]], Stream[Y]]", composed)
        then = _then(other, self)
        return NotImplemented if then is None else then

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


class _Applicable(Operator[Any, Any]):
    """Mixed into what :func:`operator` factories return: ``op(stream)`` is ``stream | op``.

    Those factories are typed as returning a function from stream to stream (for a
    generator that changes the item type), so their operators must be callable, and so
    must any operator composed from one. Other operators are not: a callable operator
    would pass the ``callable()`` checks of every argument that takes a function.
    """

    __slots__ = ()

    def __call__(self, stream: object, /) -> Stream[Any]:
        return _stream_of(self, stream)._extend(self._steps)


_APPLICABLE: dict[type[Operator[Any, Any]], type[Operator[Any, Any]]] = {}


def applicable(kind: type[OpT]) -> type[OpT]:
    """``kind`` with :class:`_Applicable` mixed in (one class per kind, made once)."""
    if issubclass(kind, _Applicable):
        return kind
    made = _APPLICABLE.get(kind)
    if made is None:
        made = _APPLICABLE[kind] = type(kind.__name__, (_Applicable, kind), {"__slots__": ()})
        made.__qualname__ = kind.__qualname__
        made.__module__ = kind.__module__
    return cast("type[OpT]", made)


def _composed(kind: type[OpT], left: Operator[Any, Any], right: Operator[Any, Any]) -> OpT:
    """``left | right`` as a ``kind``: callable if either side was (see :class:`_Applicable`)."""
    if isinstance(left, _Applicable) or isinstance(right, _Applicable):
        kind = applicable(kind)
    return kind(left._steps + right._steps)  # pyright: ignore[reportPrivateUsage]


def is_anystream_factory(fn: object) -> bool:
    """An operator factory of the package passed without calling it (``take``)."""
    if isinstance(fn, Operator | _Then):
        return False
    module = getattr(fn, "__module__", None)
    return isinstance(module, str) and (module == "anystream" or module.startswith("anystream."))


def apply_stream_function(
    what: str, fn: Callable[[Stream[Any]], object], stream: Stream[Any]
) -> Stream[Any]:
    """``fn(stream)``, refusing anything that does not return a :class:`Stream`."""
    from .stream import Stream  # stream.py imports this module

    # Typed as returning a Stream, but an untyped caller can pass anything.
    result = fn(stream)
    if not isinstance(result, Stream):
        hint = (
            " (an operator factory needs calling, e.g. every_other() rather than every_other)"
            if isinstance(result, Operator)
            else ""
        )
        raise TypeError(
            f"{what}: {_name_of(fn)} returned {type(result).__name__} {result!r:.60}, "
            f"not a Stream{hint}"
        )
    return result


def _stream_of(op: Operator[Any, Any], stream: object) -> Stream[Any]:
    from .stream import Stream  # stream.py imports this module

    if not isinstance(stream, Stream):
        raise TypeError(
            f"({op!r:.60})(stream) needs a Stream, got {type(stream).__name__} {stream!r:.60}"
        )
    return stream


def _then(first: object, second: object) -> _Then | None:
    """``first | second`` where one side is an operator and the other is not.

    None when the other side is not callable (``|`` then returns ``NotImplemented``).
    """
    other = second if isinstance(first, Operator) else first
    if not callable(other) or isinstance(other, type):
        return None
    if is_anystream_factory(other):
        raise TypeError(
            "op | x and x | op need an anystream operator or a Stream -> Stream function, "
            f"got {type(other).__name__} {other!r:.60} (did you forget to call it, e.g. "
            "take(3) rather than take?)"
        )
    return _Then(
        cast("Callable[[Stream[Any]], Stream[Any]]", first),
        cast("Callable[[Stream[Any]], Stream[Any]]", second),
    )


@final
class _Then:
    """``fn | op`` or ``op | fn``: a function from stream to stream applying both in turn.

    An operator is a list of steps the runner plans as a whole; a user's function can
    build any stream (merge others in, ...), so it cannot become a step: composing with
    one gives this function instead, which ``stream | x``, ``stream.pipe(x)`` and further
    ``| op`` accept like the function itself.
    """

    __slots__ = ("_first", "_second")

    def __init__(
        self,
        first: Callable[[Stream[Any]], Stream[Any]],
        second: Callable[[Stream[Any]], Stream[Any]],
    ) -> None:
        self._first = first
        self._second = second

    def __call__(self, stream: Stream[Any], /) -> Stream[Any]:
        return self._apply(self._second, self._apply(self._first, stream))

    def _apply(self, part: object, stream: Stream[Any]) -> Stream[Any]:
        if isinstance(part, Operator):  # not callable, unless made by @operator
            return _stream_of(part, stream)._extend(part.steps)
        return apply_stream_function(
            repr(self), cast("Callable[[Stream[Any]], object]", part), stream
        )

    def __repr__(self) -> str:
        return f"{_name_of(self._first)} | {_name_of(self._second)}"


def _name_of(fn: object) -> str:
    if isinstance(fn, Operator | _Then):
        return repr(fn)
    return str(getattr(fn, "__qualname__", None) or repr(fn))


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


# A type-preserving generic function matches both overloads; the first is the one meant.
@overload
def operator(  # type: ignore[overload-overlap]
    fn: Callable[Concatenate[AsyncIterator[ItemOfAnyType], P], AsyncIterator[ItemOfAnyType]],
) -> Callable[P, SameOperator]: ...
@overload
def operator(
    fn: Callable[Concatenate[AsyncIterator[T], P], AsyncIterator[U]],
) -> Callable[P, Callable[[Stream[T]], Stream[U]]]: ...
def operator(
    fn: Callable[Concatenate[AsyncIterator[T], P], AsyncIterator[U]],
) -> Callable[P, Any]:
    """Turn an async generator function over an upstream into an operator factory.

    ::

        @operator
        async def every_other(source: AsyncIterator[T]) -> AsyncIterator[T]:
            keep = True
            async for item in source:
                if keep:
                    yield item
                keep = not keep


        @operator
        async def tagged(source: AsyncIterator[T], tag: str) -> AsyncIterator[tuple[str, T]]:
            async for item in source:
                yield (tag, item)


        stream | every_other() | tagged("a")

    The factory's arguments are the generator's after the upstream. It returns an
    :class:`Operator` that emits what the generator yields, one item per ``yield``, and
    ends when the generator returns. The generator runs in the same task as its
    neighbours. It must not open a task group or cancel scope that stays open across a
    ``yield`` (use a staged operator for anything that needs a task or a timeout).

    Types, in mypy and pyright alike: a generator generic in its item type that keeps it
    (``AsyncIterator[T]`` in and out, as ``every_other``) gives a :class:`SameOperator`,
    so ``stream | every_other()`` keeps the stream's item type. Any other generator gives
    a function from stream to stream, ``Callable[[Stream[In]], Stream[Out]]`` (true at
    run time: the operator it returns is callable, ``op(stream)`` being ``stream |
    op``, and so is one composed from it with ``|``); for a generic
    one such as ``tagged`` it stays generic, so its type variables are solved where it is
    used: ``stream | tagged("a")``, ``stream.pipe(tagged("a"))``, ``op | tagged("a")`` and
    ``tagged("a") | op`` are all typed. (A factory returning ``Operator[T, U]`` would
    lose ``T``: mypy solves a type variable that is only in a result to ``Never``.)
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
        # ones (the first overload), and for the others an operator all the same, made
        # callable as their type says.
        return applicable(SameOperator)((GenStep(name, make),))

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
