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
"""

from __future__ import annotations

from anyio import get_cancelled_exc_class

__all__ = ["NOTE_PREFIX", "add_operator_note", "unwrap"]

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


def unwrap(exc: BaseException) -> BaseException:
    """The exception the caller should see for ``exc`` (see the module docstring)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    cancelled = get_cancelled_exc_class()
    real = [leaf for leaf in _leaves(exc) if not isinstance(leaf, cancelled)]
    if len(real) == 1:
        return real[0]
    return exc


def reraise_unwrapped(exc: BaseException) -> None:
    """Raise ``unwrap(exc)`` without replacing the leaf's own ``__context__``.

    ``raise leaf`` inside an ``except`` block would set ``leaf.__context__`` to the group
    being handled, burying the leaf's real context under "During handling of the above
    exception...". Restoring it and re-raising with a bare ``raise`` keeps the traceback
    the user would have seen without the runner.
    """
    leaf = unwrap(exc)
    if leaf is exc:
        raise exc
    context = leaf.__context__
    try:
        raise leaf
    except BaseException:
        leaf.__context__ = context
        raise
