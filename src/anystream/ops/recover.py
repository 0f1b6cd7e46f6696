"""Recovering from a failing stream: ``catch``, ``on_error_resume``, ``retry_stream``.

These wrap a whole stream rather than being pipeable operators: a step of a pipeline only
sees its upstream's items, and an error raised in another task of the run (any staged
operator upstream) never reaches it, nor can a step re-run its upstream from scratch. So
each one is a function of the stream that returns a new :class:`Stream`; it runs the
given stream (and any replacement) in its own task with ``async with s.stream()``, exactly
as the combinators do (``ops/combine.py``): a graceful stop is relayed to the stream being
run, a consumer that leaves closes it, and only ``Exception`` is recovered from (a
cancellation or ``KeyboardInterrupt`` is never caught).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import Any, TypeVar, overload

import anyio
from anyio.abc import TaskGroup

from .._core.callables import describe, is_async_callable
from .._core.stream import Stream
from .combine import Input, _check_streams, _Combinator, _emit_all, _source
from .create import from_iterable

__all__ = ["catch", "on_error_resume", "retry_stream"]

T = TypeVar("T")
U = TypeVar("U")

Replacement = Stream[U] | AsyncIterable[U] | Iterable[U]


def _as_stream(op: str, what: str, value: object) -> Stream[Any]:
    if isinstance(value, Stream):
        return value
    if isinstance(value, AsyncIterable | Iterable) and not isinstance(value, str | bytes):
        return from_iterable(value)  # pyright: ignore[reportUnknownArgumentType]
    raise TypeError(
        f"{op}(): {what} must be a Stream or an (async) iterable, "
        f"got {type(value).__name__} {value!r:.60}"
    )


@overload
def catch(stream: Stream[T], handler: Callable[[Exception], Stream[U]]) -> Stream[T | U]: ...
@overload
def catch(stream: Stream[T], handler: Callable[[Exception], AsyncIterable[U]]) -> Stream[T | U]: ...
@overload
def catch(stream: Stream[T], handler: Callable[[Exception], Iterable[U]]) -> Stream[T | U]: ...
def catch(stream: Stream[T], handler: Callable[[Exception], Replacement[U]]) -> Stream[T | U]:
    """Emit ``stream``'s items; if it fails, continue with the items of ``handler(error)``.

    ::

        stream   -a-b-#              catch(stream, e -> x y)
        output   -a-b-(xy|)

    ``handler`` gets the exception and returns a :class:`Stream` or an (async) iterable
    whose items follow those already emitted (an empty one ends the output quietly); to
    let the error through it re-raises. An error of the replacement propagates. A stream
    that was stopped gracefully is not replaced. RxJS ``catchError``; Kotlin
    ``catch { e -> emitAll(...) }``; aiostream has none.
    """
    _check_streams("catch", [stream], first=0)
    if not callable(handler):
        raise TypeError(f"catch(): handler must be callable, got {type(handler).__name__}")
    if is_async_callable(handler):
        # Its coroutine is not a replacement: found out only when the stream fails.
        raise TypeError(
            f"catch(): handler is a coroutine function ({describe(handler)}); expected a "
            "plain function returning a Stream or an (async) iterable (an async generator "
            "function works)"
        )
    return _catching("catch", stream, handler)


def _catching(
    op: str, stream: Stream[T], handler: Callable[[Exception], Replacement[U]]
) -> Stream[T | U]:
    async def body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
        try:
            if not await _emit_all(comb, 0, stream, tg):
                return
        except Exception as exc:
            if comb.is_stopping():
                raise
            replacement = _as_stream(op, "the replacement", handler(exc))
            await _emit_all(comb, 1, replacement, tg)

    return Stream(_source(op, body, [stream]))


@overload
def on_error_resume(stream: Stream[T], fallback: Stream[U]) -> Stream[T | U]: ...
@overload
def on_error_resume(stream: Stream[T], fallback: Callable[[], Stream[U]]) -> Stream[T | U]: ...
@overload
def on_error_resume(
    stream: Stream[T], fallback: Callable[[], AsyncIterable[U]]
) -> Stream[T | U]: ...
@overload
def on_error_resume(stream: Stream[T], fallback: Callable[[], Iterable[U]]) -> Stream[T | U]: ...
def on_error_resume(
    stream: Stream[T], fallback: Stream[U] | Callable[[], Replacement[U]]
) -> Stream[T | U]:
    """Emit ``stream``'s items; if it fails, continue with ``fallback``'s items.

    ::

        stream    -a-b-#             on_error_resume(stream, x y)
        output    -a-b-(xy|)

    ``fallback`` is a :class:`Stream` (run afresh each time it is needed) or a function of
    no argument returning one (or an iterable). The error itself is dropped: use
    :func:`catch` to look at it. RxJS ``onErrorResumeNext``; Kotlin
    ``catch { emitAll(fallback) }``.
    """
    _check_streams("on_error_resume", [stream], first=0)
    if not isinstance(fallback, Stream) and not callable(fallback):
        raise TypeError(
            "on_error_resume(): fallback must be a Stream or a function returning one, "
            f"got {type(fallback).__name__} {fallback!r:.60}"
        )

    def handler(exc: Exception) -> Replacement[U]:
        return fallback if isinstance(fallback, Stream) else fallback()

    return _catching("on_error_resume", stream, handler)


def retry_stream(
    stream: Stream[T], n: int, *, backoff: float | Callable[[int], float] = 0.0
) -> Stream[T]:
    """Emit ``stream``'s items; if it fails, run it again from scratch, up to ``n`` times.

    ::

        stream   -a-#  then  -a-b-|   retry_stream(stream, 1)
        output   -a----------a-b-|

    Each retry re-runs the whole stream (its source is opened anew), so items emitted
    before a failure are emitted again. Before retry ``k`` (1-based) it waits
    ``backoff`` seconds, or ``backoff(k)`` for a function. After ``n`` retries the last
    error propagates; a run being stopped gracefully is not retried. Kotlin ``retry(n)`` /
    ``retryWhen``; RxJS ``retry({count, delay})``.
    """
    _check_streams("retry_stream", [stream], first=0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"retry_stream(): n must be an int >= 0, got {n!r}")
    fixed: float | None = None
    if not callable(backoff):
        ok = isinstance(backoff, int | float) and not isinstance(backoff, bool)
        if not ok or not math.isfinite(backoff) or backoff < 0:
            raise ValueError(
                f"retry_stream(): backoff must be seconds >= 0 or a function of the retry "
                f"number, got {backoff!r}"
            )
        fixed = float(backoff)

    async def body(comb: _Combinator, inputs: Sequence[Input], tg: TaskGroup) -> None:
        attempt = 0
        while True:
            try:
                await _emit_all(comb, 0, stream, tg)
                return
            except Exception:
                if attempt >= n or comb.is_stopping():
                    raise
            attempt += 1
            wait = fixed if fixed is not None else float(backoff(attempt))  # type: ignore[operator]
            if wait > 0:
                await anyio.sleep(wait)

    return Stream(_source(f"retry_stream({n})", body, [stream]))
