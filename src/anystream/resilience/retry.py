"""Retry a coroutine function with capped exponential backoff and jitter.

Why this module exists: the resilient-ingestion scenario writes to a flaky sink. Transient
failures (a dropped connection, a timed-out request) should be retried a few times with a
growing pause, so that a struggling service gets room to recover instead of a thundering
herd; permanent failures should surface at once, and the caller must be able to tell how
hard we tried (the dead-letter stage records the attempt count, the metrics count retries).

The policy is a frozen dataclass, `Retry`, so one policy can be shared by every consumer
task and by the test that checks its delays. `retry(fn, ...)` wraps a coroutine function
into one with the same signature; `Retry.call(fn, ...)` runs one call and also returns the
number of attempts it took.

The backoff, in one line: after attempt ``n`` fails (``n`` counts from 1), sleep

    cap(n) = min(max_delay, base_delay * multiplier ** (n - 1))

exactly (``jitter="none"``), or a uniform draw from ``[0, cap(n)]`` (``jitter="full"``, the
default). Full jitter is the scheme from the AWS Architecture Blog post "Exponential
Backoff And Jitter" (Marc Brooker, 2015): among the variants measured there it spreads
competing clients out best, at the cost of sometimes retrying early.

Rules that hold whatever the policy says:

- Cancellation (``anyio.get_cancelled_exc_class()``), `KeyboardInterrupt`, `SystemExit` and
  `GeneratorExit` are never retried, not even with ``retry_on=(BaseException,)``, and not
  when they are inside an exception group. They are control flow, not failures: retrying a
  cancellation would make a cancelled pipeline hang on in a backoff loop. They propagate
  untouched (no note, no attribute).
- The exception that ends the call is the original exception object, never a wrapper, so
  ``except ConnectionError`` around a retried call works as it would without the retry.
  When attempts run out, a note (PEP 678) says ``gave up after N attempts``.
  `attempts_made` reads the attempt count back from it.
- With ``attempt_timeout`` each attempt runs under `anyio.fail_after`; an attempt that hits
  that deadline raises `TimeoutError` and is always retried (that is what a per-attempt
  timeout is for), whatever ``retry_on`` says. A `TimeoutError` raised by the function
  itself is judged by ``retry_on`` like any other error.

Only anyio APIs are used, so the same code runs on asyncio and trio, and the backoff sleeps
follow the event loop's clock (virtual in the test suite).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import random as _random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypedDict, TypeVar, Unpack

import anyio

from .._core.callables import (
    NotAwaitableError,
    describe,
    is_async_gen_callable,
    is_gen_callable,
)

__all__ = ["Retry", "RetryOptions", "attempts_made", "retry"]

P = ParamSpec("P")
T = TypeVar("T")

RetryOn = tuple[type[BaseException], ...] | type[BaseException] | Callable[[BaseException], bool]
"""What ``Retry.retry_on`` accepts: exception classes (a tuple, or one class), or a predicate."""

OnRetry = Callable[[int, BaseException, float], None]
"""``on_retry(attempt, exc, delay)``: attempt number ``attempt`` failed with ``exc``."""

# Exceptions that are control flow rather than failures: never retried (see module docstring).
_NEVER_RETRY: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit)

# Where the attempt count is recorded on the exception that ends a call (see attempts_made).
_ATTEMPTS_ATTR = "_anystream_retry_attempts"


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """A retry policy: how many attempts, how long to back off between them, what to retry.

    Immutable and safe to share between tasks. Every field is checked when the policy is
    built; a bad value raises `ValueError` (or `TypeError` for a wrong type) whose message
    starts with the field's name.

    Attributes:
        attempts: maximum number of attempts in total, first one included (>= 1).
            ``attempts=1`` means "no retry".
        base_delay: backoff after the first failed attempt, in seconds (>= 0).
        max_delay: upper bound of any backoff, in seconds (>= base_delay).
        multiplier: growth factor of the backoff per failed attempt (>= 1).
        jitter: ``"full"`` sleeps a uniform draw from ``[0, cap]``; ``"none"`` sleeps
            exactly ``cap``, where ``cap = min(max_delay, base_delay * multiplier**(n-1))``.
        retry_on: which failures are transient. Either exception classes (a tuple, or a
            single class), matched with `isinstance`; an exception group matches when every
            exception in it matches. Or a predicate ``(exc) -> bool``.
        attempt_timeout: ``None``, or a deadline in seconds for each attempt on its own.
            An attempt that overruns it fails with `TimeoutError` and is always retried.
        on_retry: called as ``on_retry(attempt, exc, delay)`` just before backing off after
            failed attempt number ``attempt`` (1-based). Not called when the call gives up.
            Meant for counting retries in metrics; it must not block.
        random: the random number generator for full jitter; pass a seeded
            `random.Random` for reproducible delays. ``None`` uses the `random` module.
    """

    attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: Literal["full", "none"] = "full"
    retry_on: RetryOn = (Exception,)
    attempt_timeout: float | None = None
    on_retry: OnRetry | None = None
    random: _random.Random | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise TypeError(f"attempts must be an int, got {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts!r}")
        _check_seconds("base_delay", self.base_delay)
        _check_seconds("max_delay", self.max_delay)
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay must be >= base_delay ({self.base_delay!r}), got {self.max_delay!r}"
            )
        _check_real("multiplier", self.multiplier)
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if self.jitter not in ("full", "none"):
            raise ValueError(f"jitter must be 'full' or 'none', got {self.jitter!r}")
        object.__setattr__(self, "retry_on", _check_retry_on(self.retry_on))
        if self.attempt_timeout is not None:
            _check_seconds("attempt_timeout", self.attempt_timeout)
            if self.attempt_timeout == 0:
                raise ValueError("attempt_timeout must be > 0 or None, got 0")
        if self.on_retry is not None and not callable(self.on_retry):
            raise TypeError(f"on_retry must be callable or None, got {self.on_retry!r}")
        if self.random is not None and not isinstance(self.random, _random.Random):
            raise TypeError(f"random must be a random.Random or None, got {self.random!r}")

    def delay(self, attempt: int) -> float:
        """The backoff to sleep after failed attempt number `attempt` (1-based), in seconds.

        With full jitter every call draws a new value from `random`.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise TypeError(f"attempt must be an int, got {attempt!r}")
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt!r}")
        if self.base_delay == 0:
            return 0.0  # also keeps 0 * inf (a huge power) from turning into nan below
        try:
            exponential = self.base_delay * self.multiplier ** (attempt - 1)
        except OverflowError:  # float power out of range: far beyond any max_delay
            exponential = math.inf
        cap = min(self.max_delay, exponential)
        if self.jitter == "none":
            return cap
        rng = self.random if self.random is not None else _random
        return rng.uniform(0.0, cap)

    def delays(self) -> list[float]:
        """The backoffs a call that fails every attempt would sleep: ``attempts - 1`` values.

        With full jitter this draws from `random`, so a second policy seeded the same way
        produces the same sequence that a call under it would sleep.
        """
        return [self.delay(n) for n in range(1, self.attempts)]

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether `exc` is a transient failure under this policy.

        Cancellation, `KeyboardInterrupt`, `SystemExit` and `GeneratorExit`, alone or in an
        exception group, are never retryable. Must be called inside an event loop (the
        cancellation class depends on the backend).
        """
        if _is_control_flow(exc, anyio.get_cancelled_exc_class()):
            return False
        return self._matches(exc)

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[T, int]:
        """Await ``fn(*args, **kwargs)`` under this policy; return ``(result, attempts)``.

        `attempts` is how many attempts it took (1 if the first one succeeded). If the call
        fails for good, the last exception propagates unchanged; `attempts_made` tells how
        many attempts were made before that.
        """
        cancelled_class = anyio.get_cancelled_exc_class()
        attempt = 1
        while True:
            scope: anyio.CancelScope | None = None
            called: Any = _NOT_CALLED
            try:
                if self.attempt_timeout is None:
                    called = fn(*args, **kwargs)
                    return await called, attempt
                with anyio.fail_after(self.attempt_timeout) as scope:
                    called = fn(*args, **kwargs)
                    result = await called
                return result, attempt
            except BaseException as exc:
                if _is_control_flow(exc, cancelled_class) or isinstance(exc, NotAwaitableError):
                    raise
                if (
                    isinstance(exc, TypeError)
                    and called is not _NOT_CALLED
                    and not inspect.isawaitable(called)
                ):
                    # fn is a plain function: retrying would only repeat its side effects.
                    # Tested here, after the failure, so that a good call pays nothing.
                    raise NotAwaitableError(
                        f"retry(): fn returned {type(called).__name__}, not an awaitable "
                        f"({describe(fn)}); retry() and Retry.call() retry async calls: "
                        "pass an async def function or one that returns an awaitable"
                    ) from None
                timed_out = (
                    scope is not None and scope.cancelled_caught and isinstance(exc, TimeoutError)
                )
                if timed_out:
                    exc.add_note(
                        f"attempt {attempt} timed out after attempt_timeout="
                        f"{self.attempt_timeout!r} s"
                    )
                retryable = timed_out or self._matches(exc)
                if not retryable or attempt >= self.attempts:
                    _record_attempts(exc, attempt)
                    if retryable:
                        exc.add_note(f"gave up after {attempt} attempt{'s' * (attempt != 1)}")
                    elif attempt > 1:
                        exc.add_note(f"not retryable; failed on attempt {attempt}")
                    raise
                failure = exc
                backoff = self.delay(attempt)
            # Outside the except block: the hook and the sleep are not "handling" the error.
            if self.on_retry is not None:
                self.on_retry(attempt, failure, backoff)
            del failure  # do not keep the exception (and its frames) alive while sleeping
            await anyio.sleep(backoff)
            attempt += 1

    def _matches(self, exc: BaseException) -> bool:
        retry_on = self.retry_on
        if isinstance(retry_on, tuple):
            if isinstance(exc, retry_on):
                return True
            # A group is transient when all of it is: split() leaves nothing over.
            return isinstance(exc, BaseExceptionGroup) and exc.split(retry_on)[1] is None
        return bool(retry_on(exc))


class RetryOptions(TypedDict, total=False):
    """The fields of `Retry`, as keyword arguments of `retry` (all optional)."""

    attempts: int
    base_delay: float
    max_delay: float
    multiplier: float
    jitter: Literal["full", "none"]
    retry_on: RetryOn
    attempt_timeout: float | None
    on_retry: OnRetry | None
    random: _random.Random | None


def retry(
    fn: Callable[P, Awaitable[T]],
    policy: Retry | None = None,
    **options: Unpack[RetryOptions],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Wrap coroutine function `fn` so that each call is retried under a `Retry` policy.

    The policy is `policy` (default ``Retry()``) with any `options` (fields of `Retry`)
    replaced, so ``retry(fn, attempts=5)`` and ``retry(fn, shared_policy, on_retry=hook)``
    both work. The result keeps `fn`'s signature and metadata (`functools.wraps`), and
    ``@retry`` works as a bare decorator with the default policy.

    `fn` may be any callable returning an awaitable (a lambda returning a coroutine works).
    Calling the wrapper checks that: a plain function (its first result is not awaitable)
    raises a TypeError at once, without a retry, since retrying would only repeat its side
    effects. An async generator function is refused here: it gives a stream, not one
    result per call (see ``retry_stream`` to retry a stream).
    """
    if not callable(fn):
        raise TypeError(f"retry(): fn must be a callable returning an awaitable, got {fn!r}")
    if is_async_gen_callable(fn) or is_gen_callable(fn):
        raise TypeError(
            f"retry(): fn must be a callable returning an awaitable, got the generator function "
            f"{describe(fn)}; retry() retries one result per call: use retry_stream() to "
            "retry a stream"
        )
    if policy is None:
        policy = Retry(**options)
    elif not isinstance(policy, Retry):
        raise TypeError(f"policy must be a Retry or None, got {policy!r}")
    elif options:
        policy = dataclasses.replace(policy, **options)
    bound = policy

    @functools.wraps(fn)
    async def retrying(*args: P.args, **kwargs: P.kwargs) -> T:
        result, _ = await bound.call(fn, *args, **kwargs)
        return result

    return retrying


_NOT_CALLED: Any = object()


def attempts_made(exc: BaseException) -> int | None:
    """How many attempts a retried call made before it failed with `exc`.

    Set on the exception that ends a `retry`-wrapped call or a `Retry.call`, whether the
    attempts ran out or the error was not retryable. ``None`` for any other exception
    (including cancellation, which is never annotated).
    """
    value = getattr(exc, _ATTEMPTS_ATTR, None)
    return value if isinstance(value, int) else None


def _record_attempts(exc: BaseException, attempts: int) -> None:
    with contextlib.suppress(AttributeError, TypeError):  # an exception without a __dict__
        setattr(exc, _ATTEMPTS_ATTR, attempts)


def _is_control_flow(exc: BaseException, cancelled_class: type[BaseException]) -> bool:
    """True for cancellation and interpreter exits, alone or anywhere inside a group."""
    if isinstance(exc, (cancelled_class, *_NEVER_RETRY)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_control_flow(inner, cancelled_class) for inner in exc.exceptions)
    return False


def _check_real(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _check_seconds(name: str, value: object) -> None:
    _check_real(name, value)
    assert isinstance(value, (int, float))
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _check_retry_on(retry_on: object) -> RetryOn:
    # A class is callable too: taken as a predicate, OSError(exc) is always truthy and
    # everything would be retried. So a single class is accepted and made a tuple.
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    if isinstance(retry_on, tuple):
        if not retry_on:
            raise ValueError("retry_on must not be empty (use attempts=1 to disable retries)")
        for item in retry_on:
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                raise TypeError(f"retry_on must contain exception classes, got {item!r}")
        return retry_on
    if callable(retry_on):
        return retry_on  # a predicate (exc) -> bool: nothing more to check before a call
    raise TypeError(
        f"retry_on must be a tuple of exception classes or a predicate, got {retry_on!r}"
    )
