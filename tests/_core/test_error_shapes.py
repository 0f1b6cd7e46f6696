"""One error shape for every multi-task operator, on both backends (rule: errors.py).

Every case makes several tasks of one operator fail at the same virtual instant, which
asyncio and trio schedule differently; the caller must get the first failure as itself
(never a group), with the others attached, with and without a ``buffered()`` around
the operator, and through a task group the consumer opened inside the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from anystream import (
    Stream,
    buffered,
    from_iterable,
    map_async,
    map_thread,
    merge,
    merge_map,
    tumbling_window,
    zip,
)
from anystream._core.errors import concurrent_failures

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def _fail_at(t: float, label: int) -> AsyncIterator[int]:
    yield label
    await anyio.sleep(t)
    raise Boom(label)


def _sources(n: int) -> list[Stream[int]]:
    return [from_iterable(_fail_at(1.0, i)) for i in range(n)]


async def _fail_async(x: int) -> int:
    await anyio.sleep(1.0)
    raise Boom(x)


def _fail_sync(x: int) -> int:
    raise Boom(x)


def _key_fails(x: int) -> int:
    raise Boom(x)


CASES: dict[str, Callable[[], Stream[Any]]] = {
    "map_async": lambda: from_iterable(range(4)) | map_async(_fail_async, concurrency=4),
    "merge": lambda: merge(*_sources(3)),
    "merge_map": lambda: (
        from_iterable(range(3)) | merge_map(lambda i: from_iterable(_fail_at(1.0, i)), 3)
    ),
    "zip": lambda: zip(*_sources(3)),
    "map_thread": lambda: from_iterable(range(4)) | map_thread(_fail_sync, workers=4),
    "tumbling_window": lambda: from_iterable(range(4)) | tumbling_window(1.0, key=_key_fails),
}


def _check(error: BaseException) -> None:
    assert isinstance(error, Boom), repr(error)
    for other in concurrent_failures(error):
        assert not isinstance(other, BaseExceptionGroup)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("wrap", ["plain", "buffered"])
async def test_collect_gets_the_first_failure_as_itself(case: str, wrap: str) -> None:
    stream = CASES[case]()
    if wrap == "buffered":
        stream = stream | buffered(2)
    with pytest.raises(Boom) as info:
        await stream.collect()
    _check(info.value)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("wrap", ["plain", "buffered"])
async def test_a_consumer_task_group_inside_the_run_gets_the_same(case: str, wrap: str) -> None:
    stream = CASES[case]()
    if wrap == "buffered":
        stream = stream | buffered(2)
    with pytest.raises(Boom) as info:
        async with stream.stream() as run, anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            async for _ in run:
                pass
    _check(info.value)


@pytest.mark.real_clock
@pytest.mark.parametrize("wrap", ["plain", "buffered"])
async def test_map_process_gets_the_first_failure_as_itself(wrap: str) -> None:
    from anystream import map_process

    stream = from_iterable(range(4)) | map_process(_fail_sync, workers=2)
    if wrap == "buffered":
        stream = stream | buffered(2)
    with pytest.raises(Boom) as info:
        await stream.collect()
    _check(info.value)
