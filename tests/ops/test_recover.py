"""Tests for the recover family: catch, on_error_resume, retry_stream (virtual clock)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

import anystream as a
from anystream._core.source import FactorySource
from anystream.testing import ScriptedSource, at, hang, raise_

pytestmark = pytest.mark.anyio


def failing(*times_values: tuple[float, object]) -> a.Stream[object]:
    src = ScriptedSource(*(at(t, v) for t, v in times_values), raise_(ValueError("boom")))
    return a.from_iterable(src)


async def timed(stream: a.Stream[object]) -> list[tuple[float, object]]:
    start = anyio.current_time()
    out: list[tuple[float, object]] = []
    async with stream.stream() as items:
        async for value in items:
            out.append((round(anyio.current_time() - start, 6), value))
    return out


async def test_catch_replaces_the_failing_stream_even_behind_a_staged_step() -> None:
    seen: list[Exception] = []

    def handler(exc: Exception) -> list[str]:
        seen.append(exc)
        return ["x", "y"]

    up = failing((1, "a"), (2, "b")) | a.buffered(2)
    assert await timed(a.catch(up, handler)) == [(1, "a"), (2, "b"), (2, "x"), (2, "y")]
    assert isinstance(seen[0], ValueError)
    assert str(seen[0]) == "boom"
    assert await a.catch(a.range(3), handler).collect() == [0, 1, 2]  # no error: no handler


async def test_catch_handler_can_reraise_and_replacement_can_be_a_stream() -> None:
    def reraise(exc: Exception) -> list[object]:
        raise RuntimeError("wrapped") from exc

    with pytest.raises(RuntimeError, match="wrapped"):
        await a.catch(failing((1, 1)), reraise).collect()
    out = await a.catch(failing((1, 1)), lambda e: a.range(2) | a.map(str)).collect()
    assert out == [1, "0", "1"]


async def test_catch_closes_the_stream_when_the_consumer_leaves() -> None:
    closed: list[bool] = []

    async def gen() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                await anyio.sleep(1)
        finally:
            closed.append(True)

    assert await (
        a.catch(a.Stream(FactorySource(gen, "gen")), lambda e: []) | a.take(2)
    ).collect() == [0, 1]
    assert closed == [True]


async def test_on_error_resume_with_stream_and_factory() -> None:
    fallback = a.from_iterable(["z"])
    assert await a.on_error_resume(failing((1, "a")), fallback).collect() == ["a", "z"]
    assert await a.on_error_resume(failing((1, "a")), lambda: ["f"]).collect() == ["a", "f"]
    err = a.on_error_resume(failing((1, "a")), lambda: a.throw(KeyError("k")))
    with pytest.raises(KeyError):
        await err.collect()


async def test_retry_stream_reruns_from_scratch_with_backoff() -> None:
    runs: list[int] = []

    async def flaky() -> AsyncIterator[str]:
        runs.append(1)
        yield "a"
        await anyio.sleep(1)
        if len(runs) < 3:
            raise ValueError("flaky")
        yield "b"

    out = await timed(
        a.retry_stream(a.Stream(FactorySource(flaky, "flaky")), 2, backoff=lambda k: 10 * k)
    )
    # run 1: a@0, fails @1; wait 10; run 2: a@11, fails @12; wait 20; run 3: a@32, b@33
    assert out == [(0, "a"), (11, "a"), (32, "a"), (33, "b")]
    assert len(runs) == 3
    with pytest.raises(ValueError, match="boom"):
        await a.retry_stream(failing((1, 1)), 1, backoff=0.5).collect()


async def test_retry_stream_gives_up_after_n_and_passes_the_last_error() -> None:
    start = anyio.current_time()
    with pytest.raises(ValueError, match="boom"):
        await a.retry_stream(failing((1, 1)), 2, backoff=3).collect()
    assert anyio.current_time() - start == pytest.approx(1 + 3 + 1 + 3 + 1)
    ok = a.from_iterable(ScriptedSource(at(1, 1), hang()))
    assert await (a.retry_stream(ok, 3) | a.take(1)).collect() == [1]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: a.catch([1], lambda e: []), TypeError, r"catch\(\): argument 0 must be a Stream"),
        (lambda: a.catch(a.empty(), 3), TypeError, r"catch\(\): handler must be callable"),
        (lambda: a.on_error_resume(a.empty(), [1]), TypeError, r"on_error_resume\(\): fallback"),
        (lambda: a.retry_stream(a.empty(), -1), ValueError, r"retry_stream\(\): n must be"),
        (
            lambda: a.retry_stream(a.empty(), 1, backoff=-2),
            ValueError,
            r"retry_stream\(\): backoff must be seconds >= 0",
        ),
    ],
)
def test_bad_input(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


async def test_bad_replacement_names_the_operator() -> None:
    with pytest.raises(TypeError, match=r"catch\(\): the replacement must be a Stream"):
        await a.catch(failing((1, 1)), lambda e: 5).collect()  # type: ignore[arg-type,return-value]


async def test_a_graceful_stop_ends_an_idle_inline_stream_under_catch() -> None:
    # The stream runs inline in catch's task (no buffer): a stop must still interrupt its
    # source while it waits for an item, and nothing already pulled is lost.
    async def slow() -> AsyncIterator[int]:
        yield 1
        await anyio.sleep_forever()

    s = a.catch(a.Stream(FactorySource(slow, "slow")), lambda e: ["never"])
    got: list[int] = []
    with anyio.fail_after(10):
        async with s.stream() as run:
            async for x in run:
                got.append(x)
                run.stop()
    assert got == [1]


async def test_a_graceful_stop_between_items_ends_retry_stream_without_losing_one() -> None:
    def numbers() -> Iterator[int]:
        yield from builtins.range(100)

    s = a.retry_stream(a.Stream(FactorySource(numbers, "numbers")), 3)
    got: list[int] = []
    with anyio.fail_after(10):
        async with s.stream() as run:
            async for x in run:
                got.append(x)
                if x == 5:
                    run.stop()
    assert got == list(builtins.range(len(got)))
    assert 6 <= len(got) < 100
