"""How errors leave a pipeline.

anyio wraps a failure in an ``ExceptionGroup`` at every task group it crosses, on both
backends: an error in a fused operator comes back as a group of one, one from a nested
task group as a group inside a group, and even an exception raised by the consumer's own
loop body inside ``async with stream.stream()`` returns from the runner's task group as a
group of one. Users wrote ``except ValueError``; they should get a ``ValueError``.

So the runner *unwraps*: it looks through nested groups at the leaves that are not
cancellations. One such leaf is re-raised as itself, its ``__cause__``, ``__context__``
and traceback intact. Several stay a group (they really are several failures). Only
cancellations means the run was cancelled from outside: the group is re-raised untouched
so that the enclosing cancel scope recognises its own cancellation.

Notes naming the operator are added where user code is *called*, never on the way up,
so that an error crossing three task groups does not collect three identical notes.

**One shape on both backends.** How many of a stage's concurrent tasks have failed by
the time its task group exits depends on the scheduler: several ``map_async`` workers
failing in the same pass give asyncio a group of three and trio often a group of one.
So the rule is: *the first failure of a stage is raised as itself*, with its operator
note; the other failures of the same stage that happened concurrently are *attached* to
it (listed in a note, and returned by :func:`concurrent_failures`), never wrapped around
it. The runner applies it to every task it owns (each is one stage or segment), so
``except KeyError`` catches a failing ``map_async`` on asyncio and trio alike. Between
stages: a ``BrokenResourceError`` / ``ClosedResourceError`` that another task met only
because the failing stage's streams closed under it is a consequence, not a second
failure: it is attached to the real one. Two real failures of *different* stages stay a
group. The same unwrapping is applied whether or not the pipeline has a staged operator,
including to a group the consumer's own task group (opened inside ``async with
stream.stream()``) raised around an operator's error.

**Errors travel behind the items.** A segment task of the run (the source and the
per-item operators fused with it, which a pull-based pipeline would run in order) that
fails does not fail the run at once: it leaves its error on the receive side of its
output and closes it, so the error
sits *behind* the items it had already handed on, exactly where end of input would have
been (``handoff.BoundaryReceive``). The next stage meets it where it would have met the
end of its input, and raises it in turn; a stage that stops reading before that point
(a ``take`` that has its items, a consumer that left) never sees it. This is what a
pull-based pipeline (aiostream, the fused path) and Kotlin's buffered channels do, and
it is what makes a ``buffered()`` invisible: ``from_iterable(gen) | take(3)`` and
``from_iterable(gen) | buffered(0) | take(3)`` give the same three items, and neither
raises what ``gen`` would have raised after them. A staged operator's failure, a
cancellation and ``KeyboardInterrupt`` are not in-band: they fail the run at once (a
stage's tasks may feed side channels, such as ``group_by``'s groups, that would otherwise
wait for it forever).
"""

from __future__ import annotations

from anyio import BrokenResourceError, ClosedResourceError, get_cancelled_exc_class

__all__ = [
    "NOTE_PREFIX",
    "add_operator_note",
    "collapse",
    "concurrent_failures",
    "reraise",
    "reraise_unwrapped",
    "unwrap",
]

NOTE_PREFIX = "anystream: raised in operator "


def add_operator_note(exc: BaseException, operator: str) -> None:
    """Record on ``exc`` which operator's user code raised it (once per operator)."""
    note = f"{NOTE_PREFIX}{operator}"
    notes = getattr(exc, "__notes__", None)
    if notes is None or note not in notes:
        exc.add_note(note)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in exc.exceptions:
            found.extend(_leaves(inner))
        return found
    return [exc]


_CONCURRENT = "_anystream_concurrent"
_CONSEQUENCES = (BrokenResourceError, ClosedResourceError)


def concurrent_failures(exc: BaseException) -> tuple[BaseException, ...]:
    """The failures attached to ``exc`` because they happened at the same time.

    Empty unless ``exc`` is the first failure of a stage whose other tasks failed too
    (see "One shape on both backends" in the module docstring).
    """
    found: tuple[BaseException, ...] = getattr(exc, _CONCURRENT, ())
    return found


def _attach(first: BaseException, others: list[BaseException]) -> BaseException:
    if others:
        setattr(first, _CONCURRENT, concurrent_failures(first) + tuple(others))
        listed = ", ".join(repr(other) for other in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        first.add_note(f"anystream: failed at the same time: {listed}{more}")
    return first


def _real_leaves(exc: BaseException) -> list[BaseException]:
    cancelled = get_cancelled_exc_class()
    return [leaf for leaf in _leaves(exc) if not isinstance(leaf, cancelled)]


def collapse(exc: BaseException) -> BaseException:
    """One task's failure: its first real leaf, with the task's other failures attached.

    ``exc`` itself when it holds nothing but cancellations (or is not a group).
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    real = _real_leaves(exc)
    if not real:
        return exc
    return _attach(real[0], real[1:])


def unwrap(exc: BaseException) -> BaseException:
    """The exception the caller should see for ``exc`` (see the module docstring)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    real = _real_leaves(exc)
    if len(real) == 1:
        return real[0]
    causes = [leaf for leaf in real if not isinstance(leaf, _CONSEQUENCES)]
    if len(causes) == 1:
        return _attach(causes[0], [leaf for leaf in real if leaf is not causes[0]])
    return exc


def reraise_unwrapped(exc: BaseException) -> None:
    """Raise ``unwrap(exc)`` without replacing the leaf's own ``__context__``.

    ``raise leaf`` inside an ``except`` block would set ``leaf.__context__`` to the group
    being handled, burying the leaf's real context under "During handling of the above
    exception...". Restoring it and re-raising with a bare ``raise`` keeps the traceback
    the user would have seen without the runner.
    """
    reraise(exc, unwrap(exc))


def reraise(exc: BaseException, leaf: BaseException) -> None:
    """Raise ``leaf`` (found inside ``exc``) keeping its own ``__context__``."""
    if leaf is exc:
        raise exc
    context = leaf.__context__
    try:
        raise leaf
    except BaseException:
        leaf.__context__ = context
        raise
