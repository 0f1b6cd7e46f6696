"""catch / on_error_resume / retry_stream against RxJS ``catchError-spec.ts``,
``onErrorResumeNext-spec.ts``, ``retry-spec.ts`` and Kotlin Flow's ``catch`` / ``retry``
documentation, in our own words; frames of 1 s on the virtual clock, both backends.

The replacement (or the re-run) of a stream starts at the instant of the failure, as
RxJS resubscribes synchronously, so a replacement ``-x|`` after an error at frame 4 emits
``x`` at frame 5.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from anystream import Stream, catch, empty, just, never, on_error_resume, retry_stream, take
from anystream._core.source import FactorySource

from ._marble import Boom, draw, expect, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class Other(Exception):
    pass


def _raise_other(exc: Exception) -> Any:
    raise Other("replaced") from exc


CATCH: list[tuple[str, str, Any, str]] = [
    # catchError-spec "should catch error and replace with a cold Observable"
    ("rxjs catch: cold replacement", "--a--b--#", lambda e: src("-1-2-3-|"), "--a--b---1-2-3-|"),
    # "should catch error and replace it with Observable.of()"
    ("rxjs catch: of", "--a--b--c--#", lambda e: ["x", "y", "z"], "--a--b--c--(xyz|)"),
    # "should not catch if no error" (the handler is never called)
    ("rxjs catch: no error", "--a--b--|", lambda e: src("x|"), "--a--b--|"),
    # "should complete if you return Observable.empty()"
    ("rxjs catch: empty", "--a--b--#", lambda e: empty(), "--a--b--|"),
    # "should never terminate if you return NEVER"
    ("rxjs catch: never", "--a--b--#", lambda e: never(), "--a--b"),
    # "should catch error and replace it with a hot-ish stream" that itself fails: the
    # replacement's error propagates, it is not caught again
    ("rxjs catch: failing replacement", "-a-#", lambda e: src("-b-#"), "-a--b-#"),
    # "should catch error at once" (the source fails immediately)
    ("rxjs catch: immediate", "#", lambda e: just("x"), "(x|)"),
    # Kotlin catch doc: emit a fallback value when upstream fails after two items
    ("kotlin catch { emit(-1) }", "-1-2-#", lambda e: [-1], "-1-2-(X|)"),
]


@pytest.mark.parametrize(
    ("given", "handler", "expected"), [c[1:] for c in CATCH], ids=[c[0] for c in CATCH]
)
async def test_catch(given: str, handler: Any, expected: str) -> None:
    labels = lambda v: "X" if v == -1 else str(v)  # noqa: E731
    with anyio.fail_after(100):
        got = await draw(catch(src(given), handler), until=60, labels=labels)
    assert got == expect(expected)


async def test_catch_handler_gets_the_error() -> None:
    # catchError-spec "should pass the error as the first argument"
    seen: list[str] = []

    def handler(exc: Exception) -> list[str]:
        seen.append(f"{type(exc).__name__}: {exc}")
        return ["x"]

    with anyio.fail_after(30):
        assert await catch(src("--a--#"), handler).collect() == ["a", "x"]
    assert seen == ["Boom: boom"]


async def test_catch_rethrow_is_the_handlers_error() -> None:
    # catchError-spec "should raise error if you return Observable.throw()"
    with anyio.fail_after(30), pytest.raises(Other):
        await catch(src("--a--#"), _raise_other).collect()


RESUME: list[tuple[str, str, str, str]] = [
    # onErrorResumeNext-spec "should continue observable sequence with next observable"
    # when the first one fails
    ("rxjs resume: on error", "--a--b--#", "--c--d--|", "--a--b----c--d--|"),
    # "should continue with the next one on error at once"
    ("rxjs resume: immediate error", "#", "-c|", "-c|"),
    # The fallback's own error propagates (RxJS moves on to a further source; with a
    # single fallback that is the end, anystream raises it)
    ("rxjs resume: fallback error", "-a-#", "-b-#", "-a--b-#"),
    # DELIBERATE DIFFERENCE (docs/operators.md): RxJS onErrorResumeNext also continues when
    # the first source *completes*; on_error_resume continues only on an error, like
    # Kotlin catch { emitAll(fallback) }.
    ("differs: no error, no fallback", "--a--b--|", "--c--|", "--a--b--|"),
]


@pytest.mark.parametrize(
    ("given", "fallback", "expected"), [c[1:] for c in RESUME], ids=[c[0] for c in RESUME]
)
async def test_on_error_resume(given: str, fallback: str, expected: str) -> None:
    with anyio.fail_after(100):
        got = await draw(on_error_resume(src(given), src(fallback)), until=60)
    assert got == expect(expected)


async def test_on_error_resume_fallback_function_is_called_per_failure() -> None:
    calls: list[int] = []

    def fallback() -> list[str]:
        calls.append(1)
        return ["f"]

    s = on_error_resume(src("-a-#"), fallback)
    with anyio.fail_after(30):
        assert await s.collect() == ["a", "f"]
        assert await s.collect() == ["a", "f"]
    assert calls == [1, 1]


RETRY: list[tuple[str, str, int, float, str]] = [
    # retry-spec "should handle a basic source that emits next then errors, count=3"
    # (here n=2 retries: three runs in all)
    ("rxjs retry: count", "--1-2-3-#", 2, 0, "--1-2-3---1-2-3---1-2-3-#"),
    # "should retry a number of times, without error, then complete"
    ("rxjs retry: no error", "--a--b--|", 2, 0, "--a--b--|"),
    # "should not retry when count is 0": the error comes through at once
    ("rxjs retry: zero", "--a-#", 0, 0, "--a-#"),
    # "should retry with a delay" (retry({count: 1, delay: 2}))
    ("rxjs retry: delay", "--a-#", 1, 2, "--a-----a-#"),
    # "should handle an immediately failing source"
    ("rxjs retry: immediate error", "#", 3, 0, "#"),
    # "should retry an empty source": nothing to retry
    ("rxjs retry: empty", "|", 3, 0, "|"),
]


@pytest.mark.parametrize(
    ("given", "n", "backoff", "expected"), [c[1:] for c in RETRY], ids=[c[0] for c in RETRY]
)
async def test_retry_stream(given: str, n: int, backoff: float, expected: str) -> None:
    with anyio.fail_after(100):
        got = await draw(retry_stream(src(given), n, backoff=backoff), until=80)
    assert got == expect(expected)


class _FailsTimes:
    """A source that fails on its first ``fails`` runs, then emits 1, 2, 3."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.runs = 0

    def __call__(self) -> Iterator[int]:
        self.runs += 1
        yield 1
        if self.runs <= self.fails:
            raise Boom(self.runs)
        yield 2
        yield 3


class _Then:
    """A synchronous source: ``items``, then ``Boom``: nothing is timed, all at once."""

    def __init__(self, *items: Any) -> None:
        self.items = items

    def __call__(self) -> Iterator[Any]:
        yield from self.items
        raise Boom("sync")


async def test_catch_keeps_the_items_emitted_just_before_a_synchronous_error() -> None:
    # catchError-spec "should catch error and replace with a cold Observable" with a
    # synchronous source (of(1, 2) then an error): 1 and 2 are emitted before the
    # replacement. These used to be lost in a buffer cancelled by the failure.
    s: Stream[Any] = Stream(FactorySource(_Then(1, 2), "sync"))
    with anyio.fail_after(30):
        assert await catch(s, lambda e: ["x"]).collect() == [1, 2, "x"]
        assert await on_error_resume(s, just("y")).collect() == [1, 2, "y"]


async def test_retry_until_successful() -> None:
    # retry-spec "should retry until successful"; Kotlin retry(3) doc example
    source = _FailsTimes(2)
    s: Stream[int] = Stream(FactorySource(source, "flaky"))
    with anyio.fail_after(30):
        assert await retry_stream(s, 3).collect() == [1, 1, 1, 2, 3]
    assert source.runs == 3


async def test_retry_gives_up_with_the_last_error() -> None:
    source = _FailsTimes(5)
    s: Stream[int] = Stream(FactorySource(source, "flaky"))
    with anyio.fail_after(30), pytest.raises(Boom) as info:
        await retry_stream(s, 2).collect()
    assert info.value.args == (3,)


async def test_retry_backoff_function_gets_the_attempt_number() -> None:
    # Kotlin retryWhen { cause, attempt -> delay(...) }: the wait may depend on the attempt
    waits: list[int] = []

    def backoff(attempt: int) -> float:
        waits.append(attempt)
        return float(attempt)

    start = anyio.current_time()
    with anyio.fail_after(30), pytest.raises(Boom):
        await retry_stream(src("#"), 3, backoff=backoff).collect()
    assert waits == [1, 2, 3]
    assert anyio.current_time() - start == pytest.approx(6)


async def test_retry_of_an_endless_stream_is_bounded_by_take() -> None:
    # retry-spec "should retry until take is satisfied": take ends the whole thing
    with anyio.fail_after(30):
        got = await (retry_stream(src("-a-#"), 100) | take(3)).collect()
    assert got == ["a", "a", "a"]
