"""Tests for anystream.resilience.retry: the backoff maths, the retry loop, its hard rules.

Every async test runs on asyncio and trio, each on a virtual clock (the project's pytest
plugin, anystream.testing.pytest_plugin, provides both), so backoff sleeps take no real time
and are checked as `anyio.current_time()` deltas.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import random
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anystream.resilience import Retry, RetryOptions, attempts_made, retry

pytestmark = pytest.mark.anyio


class Flaky:
    """A coroutine function that raises the given exceptions in turn, then returns "ok"."""

    def __init__(self, *failures: BaseException, hang: float = 0.0) -> None:
        self.failures = list(failures)
        self.raised: list[BaseException] = []
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.hang = hang

    async def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        if self.hang:
            await anyio.sleep(self.hang)
        if self.failures:
            exc = self.failures.pop(0)
            self.raised.append(exc)
            raise exc
        await anyio.lowlevel.checkpoint()
        return "ok"


def exact(**kwargs: Any) -> Retry:
    """A policy without jitter, so that delays are known in advance."""
    return Retry(jitter="none", **kwargs)


# --- the backoff maths -------------------------------------------------------------------


def test_delays_follow_the_formula_without_jitter() -> None:
    policy = exact(attempts=6, base_delay=0.5, multiplier=3, max_delay=10)
    assert policy.delays() == [0.5, 1.5, 4.5, 10, 10]
    assert [policy.delay(n) for n in range(1, 6)] == policy.delays()


def test_default_policy() -> None:
    policy = Retry(jitter="none")
    assert policy.attempts == 3
    assert policy.delays() == [0.1, 0.2]
    assert policy.delay(100) == 10.0


def test_huge_attempt_numbers_stay_capped() -> None:
    assert exact(max_delay=7).delay(10_000) == 7  # float power overflows: still the cap
    assert exact(base_delay=0, max_delay=7).delay(10_000) == 0  # 0 * inf is not nan
    assert exact(multiplier=1, base_delay=0.25).delay(10_000) == 0.25


def test_full_jitter_draws_from_the_given_random_within_the_cap() -> None:
    policy = Retry(attempts=8, base_delay=0.5, max_delay=4, random=random.Random(42))
    caps = exact(attempts=8, base_delay=0.5, max_delay=4).delays()
    twin = random.Random(42)
    delays = policy.delays()
    assert delays == [twin.uniform(0, cap) for cap in caps]
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) > 1  # really drawn, not the cap


def test_full_jitter_without_a_random_uses_the_random_module() -> None:
    policy = Retry(attempts=50, base_delay=1, max_delay=2)
    assert all(0 <= d <= 2 for d in policy.delays())


@given(
    base_delay=st.floats(0, 100),
    extra=st.floats(0, 1e6),
    multiplier=st.floats(1, 1e3),
    attempt=st.integers(1, 100_000),
    jitter=st.sampled_from(["full", "none"]),
    seed=st.integers(0, 2**32),
)
def test_delay_is_always_within_zero_and_max_delay(
    base_delay: float, extra: float, multiplier: float, attempt: int, jitter: Any, seed: int
) -> None:
    max_delay = base_delay + extra
    policy = Retry(
        base_delay=base_delay,
        max_delay=max_delay,
        multiplier=multiplier,
        jitter=jitter,
        random=random.Random(seed),
    )
    delay = policy.delay(attempt)
    assert 0 <= delay <= max_delay
    assert math.isfinite(delay)
    if jitter == "none" and attempt > 1:
        assert policy.delay(attempt - 1) <= delay  # never shrinks


# --- the retry loop ----------------------------------------------------------------------


@pytest.mark.parametrize("failures", [0, 1, 2, 4])
async def test_succeeds_after_k_failures_sleeping_the_sum_of_delays(failures: int) -> None:
    policy = exact(attempts=5, base_delay=0.25, multiplier=2, max_delay=1.5)
    fn = Flaky(*[ConnectionError(i) for i in range(failures)])
    start = anyio.current_time()
    result, attempts = await policy.call(fn, 1, key="v")
    assert (result, attempts) == ("ok", failures + 1)
    assert anyio.current_time() - start == pytest.approx(sum(policy.delays()[:failures]))
    assert fn.calls == [((1,), {"key": "v"})] * (failures + 1)


async def test_jittered_sleeps_are_the_drawn_delays() -> None:
    policy = Retry(attempts=4, base_delay=1, random=random.Random(7))
    expected = Retry(attempts=4, base_delay=1, random=random.Random(7)).delays()
    wrapped = retry(Flaky(OSError(), OSError(), OSError()), policy)
    start = anyio.current_time()
    assert await wrapped() == "ok"
    assert anyio.current_time() - start == pytest.approx(sum(expected))


async def test_retry_wrapper_keeps_the_signature_and_passes_arguments() -> None:
    seen: list[tuple[int, str]] = []

    async def fetch(item: int, *, mode: str = "fast") -> str:
        """Fetch an item."""
        seen.append((item, mode))
        if len(seen) < 2:
            raise ConnectionError("flaky")
        return f"{item}:{mode}"

    wrapped = retry(fetch, base_delay=0)
    assert wrapped.__name__ == "fetch"
    assert wrapped.__doc__ == "Fetch an item."
    assert inspect.signature(wrapped) == inspect.signature(fetch)
    assert inspect.iscoroutinefunction(wrapped)
    assert await wrapped(3, mode="slow") == "3:slow"
    assert seen == [(3, "slow"), (3, "slow")]


async def test_bare_decorator_and_lambda_returning_a_coroutine() -> None:
    fn = Flaky(ValueError())

    @retry
    async def decorated() -> str:
        return await fn()

    assert await decorated() == "ok"  # default policy: 3 attempts, retries Exception
    assert await retry(lambda: fn())() == "ok"


async def test_options_override_the_given_policy() -> None:
    base = exact(attempts=2, base_delay=1)
    fn = Flaky(OSError("first"), OSError("second"), OSError("third"))
    with pytest.raises(OSError, match="second"):
        await retry(fn, base)()
    assert len(fn.calls) == 2
    fn = Flaky(OSError(), OSError(), OSError())
    assert await retry(fn, base, attempts=4)() == "ok"
    assert len(fn.calls) == 4


async def test_exhausted_attempts_raise_the_last_exception_with_a_note() -> None:
    fn = Flaky(ConnectionError("a"), ConnectionError("b"), ConnectionError("c"))
    policy = exact(attempts=3, base_delay=1)
    start = anyio.current_time()
    with pytest.raises(ConnectionError) as info:
        await policy.call(fn)
    assert info.value is fn.raised[-1]  # the same object, not a wrapper
    assert info.value.__notes__ == ["gave up after 3 attempts"]
    assert attempts_made(info.value) == 3
    assert attempts_made(fn.raised[0]) is None
    assert anyio.current_time() - start == pytest.approx(1 + 2)


async def test_single_attempt_gives_up_at_once() -> None:
    fn = Flaky(OSError("once"))
    with pytest.raises(OSError, match="once") as info:
        await exact(attempts=1).call(fn)
    assert info.value.__notes__ == ["gave up after 1 attempt"]
    assert attempts_made(info.value) == 1


@pytest.mark.parametrize(
    "retry_on",
    [(ConnectionError,), ConnectionError, lambda exc: isinstance(exc, ConnectionError)],
    ids=["tuple", "class", "predicate"],
)
async def test_non_retryable_exceptions_propagate_at_once(retry_on: Any) -> None:
    fn = Flaky(ValueError("bad input"))
    start = anyio.current_time()
    with pytest.raises(ValueError, match="bad input") as info:
        await retry(fn, retry_on=retry_on, base_delay=1)()
    assert len(fn.calls) == 1
    assert anyio.current_time() == start
    assert not hasattr(info.value, "__notes__")
    assert attempts_made(info.value) == 1


async def test_non_retryable_after_retries_tells_the_attempt() -> None:
    fn = Flaky(ConnectionError(), KeyError("k"))
    with pytest.raises(KeyError) as info:
        await exact(retry_on=(ConnectionError,), attempts=5, base_delay=0).call(fn)
    assert len(fn.calls) == 2
    assert info.value.__notes__ == ["not retryable; failed on attempt 2"]
    assert attempts_made(info.value) == 2


async def test_exception_groups_are_retried_only_when_all_of_them_is_retryable() -> None:
    policy = exact(retry_on=(ConnectionError,), base_delay=0)
    transient = ExceptionGroup("g", [ConnectionError(), ConnectionRefusedError()])
    assert await retry(Flaky(transient), policy)() == "ok"
    mixed = ExceptionGroup("g", [ConnectionError(), ValueError()])
    fn = Flaky(mixed)
    with pytest.raises(ExceptionGroup) as info:
        await retry(fn, policy)()
    assert info.value is mixed
    assert len(fn.calls) == 1


async def test_on_retry_gets_attempt_exception_and_delay() -> None:
    hooks: list[tuple[int, BaseException, float]] = []
    policy = Retry(
        attempts=4, base_delay=0.5, random=random.Random(3), on_retry=lambda *a: hooks.append(a)
    )
    expected = Retry(attempts=4, base_delay=0.5, random=random.Random(3)).delays()
    fn = Flaky(OSError("1"), OSError("2"), OSError("3"), OSError("4"))
    with pytest.raises(OSError, match="4"):
        await policy.call(fn)
    assert [attempt for attempt, _, _ in hooks] == [1, 2, 3]  # not called on giving up
    assert [exc for _, exc, _ in hooks] == fn.raised[:3]
    assert [delay for _, _, delay in hooks] == expected


# --- cancellation and interpreter exits are never retried ---------------------------------


async def test_cancellation_while_backing_off_is_not_retried() -> None:
    fn = Flaky(*[ConnectionError() for _ in range(5)])
    policy = exact(attempts=10, base_delay=10, retry_on=(BaseException,))
    start = anyio.current_time()
    with anyio.move_on_after(15) as scope:
        await policy.call(fn)
    assert scope.cancelled_caught
    assert len(fn.calls) == 2  # t=0 fails, t=10 fails, cancelled at t=15 in the backoff
    assert anyio.current_time() - start == pytest.approx(15)


async def test_cancellation_during_an_attempt_is_not_retried() -> None:
    fn = Flaky(hang=100)
    policy = exact(attempts=10, base_delay=0, retry_on=(BaseException,))
    with anyio.move_on_after(1) as scope:
        await policy.call(fn)
    assert scope.cancelled_caught
    assert len(fn.calls) == 1


async def test_cancelling_the_caller_from_outside_stops_retries() -> None:
    fn = Flaky(*[ConnectionError() for _ in range(100)])
    policy = exact(attempts=100, base_delay=1, multiplier=1, retry_on=lambda exc: True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(policy.call, fn)
        await anyio.sleep(2.5)
        tg.cancel_scope.cancel()
    assert len(fn.calls) == 3


@pytest.mark.parametrize(
    "exc",
    [
        KeyboardInterrupt(),
        SystemExit(3),
        GeneratorExit(),
        BaseExceptionGroup("g", [ConnectionError(), KeyboardInterrupt()]),
    ],
    ids=["KeyboardInterrupt", "SystemExit", "GeneratorExit", "group-with-KeyboardInterrupt"],
)
async def test_interpreter_exits_are_never_retried(exc: BaseException) -> None:
    fn = Flaky(exc)
    policy = exact(attempts=5, base_delay=0, retry_on=(BaseException,))
    assert not policy.is_retryable(exc)
    with pytest.raises(type(exc)) as info:
        await policy.call(fn)
    assert info.value is exc
    assert len(fn.calls) == 1
    assert not hasattr(exc, "__notes__")
    assert attempts_made(exc) is None


async def test_is_retryable_knows_the_backends_cancellation() -> None:
    policy = Retry(retry_on=(BaseException,))
    caught: list[BaseException] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except anyio.get_cancelled_exc_class() as exc:
            caught.append(exc)
            raise
    assert not policy.is_retryable(caught[0])
    assert policy.is_retryable(OSError())


# --- attempt_timeout -----------------------------------------------------------------------


async def test_attempt_timeout_retries_slow_attempts() -> None:
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(5 if calls <= 2 else 0.25)
        return "done"

    # retry_on excludes TimeoutError: a per-attempt timeout is retried all the same.
    policy = exact(attempts=3, base_delay=0.5, attempt_timeout=1, retry_on=(ConnectionError,))
    start = anyio.current_time()
    assert await policy.call(slow_then_fast) == ("done", 3)
    assert anyio.current_time() - start == pytest.approx(1 + 0.5 + 1 + 1.0 + 0.25)


async def test_attempt_timeout_exhausted_raises_timeout_error() -> None:
    fn = Flaky(hang=60)
    policy = exact(attempts=2, base_delay=3, attempt_timeout=2)
    start = anyio.current_time()
    with pytest.raises(TimeoutError) as info:
        await policy.call(fn)
    assert info.value.__notes__ == [
        "attempt 2 timed out after attempt_timeout=2 s",
        "gave up after 2 attempts",
    ]
    assert attempts_made(info.value) == 2
    assert anyio.current_time() - start == pytest.approx(2 + 3 + 2)


async def test_a_timeout_error_raised_by_the_function_follows_retry_on() -> None:
    fn = Flaky(TimeoutError("own"))
    with pytest.raises(TimeoutError, match="own"):
        await exact(attempt_timeout=10, retry_on=(ConnectionError,)).call(fn)
    assert len(fn.calls) == 1


async def test_an_outer_deadline_is_not_mistaken_for_an_attempt_timeout() -> None:
    fn = Flaky(hang=100)
    with anyio.move_on_after(3) as scope:
        await exact(attempts=5, attempt_timeout=10).call(fn)
    assert scope.cancelled_caught
    assert len(fn.calls) == 1


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"attempts": 0}, ValueError, "attempts"),
        ({"attempts": -1}, ValueError, "attempts"),
        ({"attempts": 2.0}, TypeError, "attempts"),
        ({"attempts": True}, TypeError, "attempts"),
        ({"base_delay": -0.1}, ValueError, "base_delay"),
        ({"base_delay": math.nan}, ValueError, "base_delay"),
        ({"base_delay": "1"}, TypeError, "base_delay"),
        ({"max_delay": -1}, ValueError, "max_delay"),
        ({"max_delay": math.inf}, ValueError, "max_delay"),
        ({"base_delay": 2, "max_delay": 1}, ValueError, "max_delay"),
        ({"multiplier": 0.5}, ValueError, "multiplier"),
        ({"multiplier": math.inf}, ValueError, "multiplier"),
        ({"jitter": "equal"}, ValueError, "jitter"),
        ({"retry_on": ()}, ValueError, "retry_on"),
        ({"retry_on": (ValueError, int)}, TypeError, "retry_on"),
        ({"retry_on": int}, TypeError, "retry_on"),
        ({"retry_on": "ValueError"}, TypeError, "retry_on"),
        ({"attempt_timeout": 0}, ValueError, "attempt_timeout"),
        ({"attempt_timeout": -1}, ValueError, "attempt_timeout"),
        ({"attempt_timeout": math.inf}, ValueError, "attempt_timeout"),
        ({"on_retry": 3}, TypeError, "on_retry"),
        ({"random": 42}, TypeError, "random"),
    ],
)
def test_bad_arguments_name_themselves(
    kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=rf"^{name} "):
        Retry(**kwargs)
    with pytest.raises(error, match=rf"^{name} "):
        retry(Flaky(), **kwargs)


def test_bad_arguments_of_retry_and_delay_name_themselves() -> None:
    with pytest.raises(TypeError, match=r"^retry\(\): fn "):
        retry(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^policy "):
        retry(Flaky(), {"attempts": 3})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^attempts "):
        retry(Flaky(), Retry(), attempts=0)
    with pytest.raises(ValueError, match=r"^attempt "):
        Retry().delay(0)


def test_single_exception_class_becomes_a_tuple() -> None:
    assert Retry(retry_on=OSError).retry_on == (OSError,)
    predicate: Callable[[BaseException], bool] = lambda exc: True  # noqa: E731
    assert Retry(retry_on=predicate).retry_on is predicate


def test_policy_is_frozen_and_options_match_its_fields() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Retry().attempts = 5  # type: ignore[misc]
    assert set(RetryOptions.__annotations__) == {f.name for f in dataclasses.fields(Retry)}
