"""The core bugs of the conformance issue, each on both backends.

(a) an upstream error raised after ``take(n)`` is satisfied is not the caller's error,
whatever sits in between; (b) a graceful stop takes effect before the next pull on
every shape (nothing pulled is lost, an acknowledged item pulled is acked or nacked);
(c) an operator's error reaches the caller with the same shape on both backends and
whatever the pipeline's shape (see the rule in ``anystream._core.errors``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from anystream import (
    Acked,
    Stream,
    buffered,
    from_acked,
    from_iterable,
    map,
    map_async,
    take,
)
from anystream._core.errors import NOTE_PREFIX, concurrent_failures

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


# -- (a) an error after take(n) is satisfied ------------------------------------------


async def _three_then_fail() -> AsyncIterator[int]:
    yield 0
    yield 1
    yield 2
    raise ZeroDivisionError


def _three_then_fail_sync() -> Iterator[int]:
    yield 0
    yield 1
    yield 2
    raise ZeroDivisionError


@pytest.mark.parametrize("staged", [0, 1, 2])
@pytest.mark.parametrize("sync", [False, True])
async def test_an_upstream_error_after_take_is_satisfied_is_not_raised(
    staged: int, sync: bool
) -> None:
    source = _three_then_fail_sync() if sync else _three_then_fail()
    stream: Stream[int] = from_iterable(source)
    for _ in range(staged):
        stream = stream | buffered(0)
    assert await (stream | take(3)).collect() == [0, 1, 2]


@pytest.mark.parametrize("staged", [0, 1])
async def test_an_upstream_error_after_take_is_satisfied_when_iterating(staged: int) -> None:
    stream: Stream[int] = from_iterable(_three_then_fail())
    if staged:
        stream = stream | buffered(0)
    got = []
    async with (stream | take(3)).stream() as run:
        async for item in run:
            got.append(item)
    assert got == [0, 1, 2]


@pytest.mark.parametrize("staged", [0, 1])
async def test_an_upstream_error_before_take_is_satisfied_is_raised(staged: int) -> None:
    stream: Stream[int] = from_iterable(_three_then_fail())
    if staged:
        stream = stream | buffered(0)
    with pytest.raises(ZeroDivisionError):
        await (stream | take(4)).collect()


@pytest.mark.parametrize("size", [0, 1, 4, 64])
@pytest.mark.parametrize("sync", [False, True])
async def test_the_items_before_an_upstream_error_are_delivered_before_it(
    size: int, sync: bool
) -> None:
    """The error travels behind the items already in the buffer, on both backends.

    (Before, trio delivered none of them: the failure cancelled the consumer first.)
    """
    source = _three_then_fail_sync() if sync else _three_then_fail()
    got: list[int] = []
    with pytest.raises(ZeroDivisionError):
        async with (from_iterable(source) | buffered(size)).stream() as run:
            async for item in run:
                got.append(item)
    assert got == [0, 1, 2]


# -- (b) the stop takes effect before the next pull ---------------------------------


@pytest.mark.parametrize("staged", [False, True])
async def test_stop_on_the_inline_shape_pulls_nothing_more(staged: bool) -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10):
            pulled.append(i)
            yield i

    stream: Stream[int] = from_iterable(source()) | map(lambda x: x)
    if staged:
        stream = stream | buffered(0)
    got = []
    async with stream.stream() as run:
        async for item in run:
            got.append(item)
            if item == 2:
                run.stop()
    # Everything pulled is delivered: nothing is pulled and dropped.
    assert got == pulled[: len(got)]
    assert pulled == got
    if not staged:
        assert got == [0, 1, 2]


async def test_stop_on_a_sync_acked_source_acks_or_nacks_every_pulled_item() -> None:
    pulled: list[int] = []
    acked: list[int] = []
    nacked: list[int] = []

    def source() -> Iterator[Acked[int]]:
        for i in range(10):
            pulled.append(i)
            yield Acked(
                i,
                ack=lambda i=i: acked.append(i),
                nack=lambda reason, i=i: nacked.append(i),
            )

    got = []
    async with (from_acked(source()) | map(lambda x: x)).stream() as run:
        async for item in run:
            got.append(item)
            if item == 2:
                run.stop()
    assert got == [0, 1, 2]
    assert sorted(acked + nacked) == pulled


# -- (c) one error shape --------------------------------------------------------------


def _fail(x: int) -> int:
    raise Boom(x)


@pytest.mark.parametrize("staged", [False, True])
async def test_a_consumer_task_group_inside_the_run_sees_the_same_error(staged: bool) -> None:
    stream: Stream[int] = from_iterable(range(3)) | map(_fail)
    if staged:
        stream = stream | buffered(2)

    async def idle() -> None:
        await anyio.sleep_forever()

    with pytest.raises(Boom) as info:
        async with stream.stream() as run, anyio.create_task_group() as tg:
            tg.start_soon(idle)
            async for _ in run:
                pass
    assert any(note.startswith(NOTE_PREFIX + "map") for note in info.value.__notes__)


@pytest.mark.parametrize("staged", [False, True])
async def test_a_consumer_task_group_around_the_run_sees_one_group_of_the_error(
    staged: bool,
) -> None:
    # The consumer's own task group wraps what leaves it (that is anyio's, not ours):
    # the leaf is the same exception with its note, with or without a staged operator.
    stream: Stream[int] = from_iterable(range(3)) | map(_fail)
    if staged:
        stream = stream | buffered(2)
    with pytest.raises(ExceptionGroup) as info:
        async with anyio.create_task_group(), stream.stream() as run:
            async for _ in run:
                pass
    (leaf,) = info.value.exceptions
    assert isinstance(leaf, Boom)
    assert any(note.startswith(NOTE_PREFIX + "map") for note in leaf.__notes__)


async def test_concurrent_failures_of_map_async_are_attached_to_the_first() -> None:
    async def fail(x: int) -> int:
        raise KeyError(x)

    with pytest.raises(KeyError) as info:
        await (from_iterable(range(3)) | map_async(fail, concurrency=3)).collect()
    error = info.value
    assert not isinstance(error, BaseExceptionGroup)
    assert any(note.startswith(NOTE_PREFIX + "map_async") for note in error.__notes__)
    for other in concurrent_failures(error):
        assert isinstance(other, KeyError)
        assert other is not error


def _shape(error: BaseException) -> Any:
    if isinstance(error, BaseExceptionGroup):
        return ("group", [_shape(inner) for inner in error.exceptions])
    return type(error).__name__
