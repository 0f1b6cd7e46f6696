"""Argument checks shared by every operator factory.

Operators validate their arguments when they are *built*, not when the pipeline first
runs: a typo in ``buffered(-1)`` should fail on the line that wrote it, with a message that
names the argument, rather than as a traceback from inside a task minutes later.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

__all__ = [
    "NotAwaitableError",
    "check_arity",
    "check_callable",
    "check_choice",
    "check_int",
    "check_item_callable",
    "check_number",
    "describe",
    "is_async_callable",
    "is_async_gen_callable",
    "is_gen_callable",
    "refuse_async_gen_result",
    "refuse_unawaited",
    "unawaited_kind",
]


def describe(fn: object) -> str:
    """A short human name for a callable, used in operator names and error notes."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return type(fn).__name__
    return str(name)


def is_async_callable(fn: object) -> bool:
    """True when calling ``fn`` certainly returns a coroutine.

    ``functools.partial`` objects and instances with an ``async def __call__`` are looked
    through. A lambda that *returns* a coroutine cannot be detected here; operators that
    accept sync callables keep an awaitable fallback for that case.
    """
    while True:
        if inspect.iscoroutinefunction(fn):
            return True
        func = getattr(fn, "func", None)  # functools.partial
        if func is not None and func is not fn:
            fn = func
            continue
        # An instance whose class defines ``async def __call__``.
        call = type(fn).__dict__.get("__call__") if not isinstance(fn, type) else None
        return call is not None and inspect.iscoroutinefunction(call)


def check_callable(op: str, name: str, fn: Any) -> None:
    """Raise TypeError naming ``name`` when ``fn`` is not callable."""
    if not callable(fn):
        raise TypeError(f"{op}(): {name} must be callable, got {type(fn).__name__} {fn!r:.60}")


def check_int(op: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an int >= ``minimum``; otherwise raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{op}(): {name} must be an int, got {type(value).__name__} {value!r:.60}")
    if value < minimum:
        raise ValueError(f"{op}(): {name} must be >= {minimum}, got {value}")
    return value


def check_number(
    op: str, name: str, value: Any, *, positive: bool = True, allow_zero: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number with the required sign."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{op}(): {name} must be a number of seconds, got {type(value).__name__} {value!r:.60}"
        )
    result = float(value)
    if math.isnan(result) or math.isinf(result):
        raise ValueError(f"{op}(): {name} must be finite, got {value}")
    if positive and (result < 0 or (result == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{op}(): {name} must be {bound}, got {value}")
    return result


def check_choice(op: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming ``name``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{op}(): {name} must be one of {options}, got {value!r}")
    return str(value)


def check_sync_callable(op: str, name: str, fn: Any, *, async_alternative: str) -> None:
    """Reject a coroutine function where a plain function is expected."""
    check_callable(op, name, fn)
    if is_async_callable(fn):
        raise TypeError(
            f"{op}(): {name} is a coroutine function ({describe(fn)}); "
            f"use {async_alternative} for async callables"
        )


def check_async_callable(op: str, name: str, fn: Any, *, sync_alternative: str) -> None:
    """Reject a plain function where a coroutine function is expected."""
    check_callable(op, name, fn)
    if not is_async_callable(fn):
        raise TypeError(
            f"{op}(): {name} must be a coroutine function (async def), got {describe(fn)}; "
            f"use {sync_alternative} for plain functions"
        )


def is_async_gen_callable(fn: object) -> bool:
    """True when calling ``fn`` certainly returns an async generator (partials looked through)."""
    while True:
        if inspect.isasyncgenfunction(fn):
            return True
        func = getattr(fn, "func", None)  # functools.partial
        if func is None or func is fn:
            return False
        fn = func


def is_gen_callable(fn: object) -> bool:
    """True when calling ``fn`` certainly returns a (sync) generator (partials looked through)."""
    while True:
        if inspect.isgeneratorfunction(fn):
            return True
        func = getattr(fn, "func", None)  # functools.partial
        if func is None or func is fn:
            return False
        fn = func


def check_arity(op: str, name: str, fn: Any, n: int) -> None:
    """Raise TypeError when ``fn`` certainly cannot be called with ``n`` positional arguments.

    A callable whose signature cannot be read (many builtins, some C types) is accepted:
    the check must never reject what might work.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*(None,) * n)
    except TypeError:
        noun = "argument" if n == 1 else "arguments"
        raise TypeError(
            f"{op}(): {name} must accept {n} positional {noun}, got {describe(fn)}{sig}"
        ) from None


def check_item_callable(
    op: str, name: str, fn: Any, *, arity: int | None = 1, hint: str = "a plain or async function"
) -> None:
    """Check a per-item callable: callable, not an async generator function, right arity.

    ``arity=None`` skips the arity check (``starmap``: the item decides the count).

    An async generator function would be called, its (always truthy) generator object
    taken for the result, and nothing awaited: refuse it at build time instead.
    """
    check_callable(op, name, fn)
    if is_async_gen_callable(fn):
        raise TypeError(
            f"{op}(): {name} is an async generator function ({describe(fn)}); "
            f"expected {hint} returning one value per item"
        )
    if is_gen_callable(fn):
        # Its generator object would be the value (or an always-true verdict).
        raise TypeError(
            f"{op}(): {name} is a generator function ({describe(fn)}); expected {hint} "
            "returning one value per item (flat_map(fn) emits the items it yields)"
        )
    if arity is not None:
        check_arity(op, name, fn, arity)


class NotAwaitableError(TypeError):
    """A callable expected to return an awaitable returned a plain value.

    A programming error, not a transient failure: ``retry`` and ``map_async(retry=...)``
    never retry it.
    """


def unawaited_kind(value: object) -> str | None:
    """What ``value`` is, when a plain function returned something that needs awaiting.

    ``"a coroutine"``, ``"an async generator object"``, ``"an awaitable <type>"``, or
    None for an ordinary value. Called on the first result of a run (``fuse.py``), so its
    cost is paid once per run, not per item.
    """
    if inspect.iscoroutine(value):
        return "a coroutine"
    if inspect.isasyncgen(value):
        return "an async generator object"
    if inspect.isawaitable(value):
        return f"an awaitable {type(value).__name__}"
    return None


#: What to use instead, by operator, when a plain function returned an awaitable.
_ASYNC_INSTEAD = {
    "map": "use map_async(fn) for functions that return awaitables",
    "parse": "parse takes a plain function; use map_async(fn) and handle malformed input there",
    "starmap": "pass an async def function to starmap, or use map_async(lambda args: fn(*args))",
    "map_thread": "use map_async(fn, concurrency=k) for async functions",
    "distinct_until_changed": "compute the key with map_async() before it",
    "tap": "iterate it inside an async def function and pass that to tap",
}


def refuse_unawaited(op: str, arg: str, fn_name: str, value: object) -> None:
    """Raise TypeError when a plain function's result ``value`` needs awaiting.

    A coroutine is closed first, so no "never awaited" warning follows the error.
    ``op`` is the operator (``"map"``), ``arg`` its argument (``"fn"``), ``fn_name``
    the step name, shown so that the user can find the call.
    """
    kind = unawaited_kind(value)
    if kind is None:
        return
    if inspect.iscoroutine(value):
        value.close()
    instead = _ASYNC_INSTEAD.get(op, "use an async def function or map_async() before it")
    raise TypeError(
        f"{op}(): {arg} returned {kind} ({fn_name}), which {op}() never awaits: {instead}"
    )


def refuse_async_gen_result(op: str, arg: str, fn_name: str, value: object) -> None:
    """Raise TypeError when a predicate returned an async generator object (always truthy)."""
    if inspect.isasyncgen(value):
        raise TypeError(
            f"{op}(): {arg} returned an async generator object ({fn_name}), whose truth value "
            "is always true; expected a bool, or an awaitable of one (a coroutine function)"
        )
