"""Issue 14 bullets not covered elsewhere (asyncio and trio, virtual clock).

* An operator's error that reaches the caller through a task group the consumer opened
  inside the run is the error itself, with its note, whether or not the pipeline has a
  staged operator: adding or removing a ``buffered()`` does not change what
  ``except Boom`` catches.
* ``flat_map`` reads its own input only after the current inner stream has ended; the
  task that feeds it holds at most one outer item (the documented read-ahead of a staged
  operator's upstream, see ``flat_map``'s docstring).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest

import anystream as a
from anystream._core.source import FactorySource

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class Boom(Exception):
    pass


def _boom_at_2(x: int) -> int:
    if x == 2:
        raise Boom(x)
    return x


SHAPES: dict[str, Callable[[], a.Stream[int]]] = {
    "fused": lambda: a.range(5) | a.map(_boom_at_2),
    "buffered before": lambda: a.range(5) | a.buffered(0) | a.map(_boom_at_2),
    "buffered after": lambda: a.range(5) | a.map(_boom_at_2) | a.buffered(2),
    "generator step": lambda: a.range(5) | a.map(_boom_at_2) | a.scan(lambda acc, x: x, 0),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_consumer_task_group_inside_the_run_gets_the_error_itself(shape: str) -> None:
    got: list[Any] = []
    with anyio.fail_after(10), pytest.raises(Boom) as info:
        async with SHAPES[shape]().stream() as run, anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            async for x in run:
                got.append(x)
    assert type(info.value) is Boom
    assert any("map(_boom_at_2)" in n for n in getattr(info.value, "__notes__", []))
    assert got == [0, 1][: len(got)]  # a failing stage may abandon what it buffered


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_except_boom_catches_the_same_in_every_shape(shape: str) -> None:
    caught: list[str] = []
    with anyio.fail_after(10):
        try:
            async with SHAPES[shape]().stream() as run, anyio.create_task_group():
                async for _ in run:
                    pass
        except Boom as exc:
            caught.append(str(exc))
    assert caught == ["2"]


class _Lazy:
    """A sync source that logs each pull."""

    def __init__(self, log: list[str], n: int) -> None:
        self.log = log
        self.n = n

    def __call__(self) -> Iterator[int]:
        for i in range(self.n):
            self.log.append(f"pull {i}")
            yield i


def _inner(log: list[str]) -> Callable[[int], AsyncIterator[str]]:
    async def inner(x: int) -> AsyncIterator[str]:
        for j in range(2):
            log.append(f"inner {x}.{j}")
            yield f"{x}.{j}"
            await anyio.sleep(1)
        log.append(f"end {x}")

    return inner


@pytest.mark.parametrize("after", ["nothing", "buffered", "map"])
async def test_flat_map_holds_at_most_one_outer_item_ahead(after: str) -> None:
    log: list[str] = []
    s: a.Stream[Any] = a.Stream(FactorySource(_Lazy(log, 4), "lazy")) | a.flat_map(_inner(log))
    if after == "buffered":
        s = s | a.buffered(4)
    elif after == "map":
        s = s | a.map(str)
    with anyio.fail_after(60):
        out = await s.collect()
    assert out == [f"{x}.{j}" for x in range(4) for j in range(2)]
    # outer item k + 2 is never pulled before inner stream k has ended
    for k in range(2):
        assert log.index(f"end {k}") < log.index(f"pull {k + 2}")
    # and flat_map itself received each outer item only after the previous inner ended
    assert s.stats()["flat_map"].received == 4


async def test_flat_map_does_not_read_ahead_from_a_lazy_source() -> None:
    log: list[str] = []
    s = a.Stream(FactorySource(_Lazy(log, 3), "lazy")) | a.flat_map(_inner(log))
    with anyio.fail_after(60):
        await s.collect()
    assert log == [
        entry
        for k in range(3)
        for entry in (f"pull {k}", f"inner {k}.0", f"inner {k}.1", f"end {k}")
    ]


async def test_concat_asks_an_inline_input_only_as_items_are_taken() -> None:
    # Sequential operators must not read ahead: concat used to put a 16-item buffer
    # behind a task-less input, so a lazy source was drained 16 items ahead.
    log: list[str] = []
    s = a.concat(a.Stream(FactorySource(_Lazy(log, 6), "lazy")), a.just(99))
    with anyio.fail_after(10):
        async with s.stream() as run:
            async for x in run:
                log.append(f"got {x}")
    assert log[-1] == "got 99"
    for k in range(6):  # item k + 3 is never pulled before item k was delivered
        if k + 3 < 6:
            assert log.index(f"got {k}") < log.index(f"pull {k + 3}")


def _then_boom() -> Iterator[int]:
    yield 1
    yield 2
    raise Boom("after two")


@pytest.mark.parametrize("form", ["concat", "concat_with"])
async def test_concat_delivers_the_items_before_an_inputs_error(form: str) -> None:
    # RxJS concat / aiostream chain: 1, 2, then the error (they used to be lost in the
    # input's buffer when the error cancelled the run)
    failing = a.Stream(FactorySource(_then_boom, "then_boom"))
    s = a.concat(failing, a.just(3)) if form == "concat" else a.just(0) | a.concat_with(failing)
    got: list[int] = []
    with anyio.fail_after(10), pytest.raises(Boom):
        async with s.stream() as run:
            async for x in run:
                got.append(x)
    assert got == ([1, 2] if form == "concat" else [0, 1, 2])
