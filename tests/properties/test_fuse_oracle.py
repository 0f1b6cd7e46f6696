"""Differential test: the generated loops of fuse.py against the interpreter of kernels.py.

Random kernel chains (map, map_async, where with sync, awaitable and async predicates,
parse with malformed inputs, take, tap-like pass-throughs; user errors at random items)
run over every input shape (a list, a sync iterator, an async iterator, a memory stream)
into every output shape (yield, send, put, list), stoppable or not, with a stop requested
from inside a kernel at a random item and, for ``"yield"``, a consumer that may leave
early. Both loops must emit the same items, leave the same counters, pull the same
number of items from an iterator source, close the upstream the same way, and raise the
same exception with the same notes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream._core.fuse import compile_kernels
from anystream._core.kernels import INPUTS, OUTPUTS, interpret
from anystream._core.operator import Kernel
from anystream._core.shutdown import StopState
from anystream._core.stats import StageCounts

pytestmark = pytest.mark.anyio


class Boom(RuntimeError):
    """A user error (not one parse() treats as malformed)."""


@dataclass(frozen=True)
class Spec:
    """One kernel of a random chain, as data (the functions are made per run)."""

    kind: str
    param: int
    fail_at: int | None = None  # raise Boom on this item value
    awaitable: bool = False  # a sync predicate returning an awaitable


@dataclass
class World:
    """What one run may observe besides its items: the stop, and calls to close."""

    stop: StopState = field(default_factory=StopState)
    stop_at: int | None = None
    closed: int = 0


def _kernel(spec: Spec, index: int, world: World) -> Kernel:
    p, fail_at = spec.param, spec.fail_at
    name = f"{spec.kind}#{index}"

    def check(x: int) -> None:
        if world.stop_at is not None and x == world.stop_at:
            world.stop.request()
        if fail_at is not None and x == fail_at:
            raise Boom(f"{name} failed on {x}")

    if spec.kind == "map":

        def f(x: int) -> int:
            check(x)
            return x + p

        return Kernel("map", name, f)
    if spec.kind == "amap":

        async def af(x: int) -> int:
            check(x)
            if x % 3 == 0:
                await anyio.lowlevel.checkpoint()
            return x + p

        return Kernel("amap", name, af)
    if spec.kind == "filter":

        async def later(keep: bool) -> bool:
            await anyio.lowlevel.checkpoint()
            return keep

        def pred(x: int) -> Any:
            check(x)
            keep = x % (p + 2) != 0
            return later(keep) if spec.awaitable and x % 2 else keep

        return Kernel("filter", name, pred)
    if spec.kind == "tap":  # tap(): a filter whose predicate is always true

        def tap(x: int) -> bool:
            check(x)
            return True

        return Kernel("filter", name, tap)
    if spec.kind == "afilter":

        async def apred(x: int) -> bool:
            check(x)
            return x % (p + 2) != 1

        return Kernel("afilter", name, apred)
    if spec.kind == "parse":

        def parse(x: int) -> int:
            check(x)
            if x % (p + 3) == 0:
                raise ValueError(f"malformed {x}")
            return x * 2

        return Kernel("parse", name, parse)
    assert spec.kind == "take"
    return Kernel("take", name, arg=p - 1)  # take(-1) .. take(5)


specs = st.builds(
    Spec,
    kind=st.sampled_from(["map", "amap", "filter", "tap", "afilter", "parse", "take"]),
    param=st.integers(min_value=0, max_value=6),
    fail_at=st.sampled_from([None, None, None]) | st.integers(min_value=0, max_value=20),
    awaitable=st.booleans(),
)


@dataclass(frozen=True)
class Case:
    chain: list[Spec]
    items: list[int]
    source: str
    as_iterator: bool  # "iter": a list, or an iterator over it
    output: str
    stoppable: bool
    stop_at: int | None
    source_fails_at: int | None
    capacity: int  # of the input / output memory stream
    consume: int | None  # "yield": the consumer leaves after this many items


cases = st.builds(
    Case,
    chain=st.lists(specs, min_size=1, max_size=5) | st.just([]),
    items=st.lists(st.integers(min_value=0, max_value=20), max_size=60),
    source=st.sampled_from(INPUTS),
    as_iterator=st.booleans(),
    output=st.sampled_from(OUTPUTS),
    stoppable=st.booleans(),
    stop_at=st.none() | st.integers(min_value=0, max_value=20),
    source_fails_at=st.sampled_from([None, None, None]) | st.integers(min_value=0, max_value=60),
    capacity=st.integers(min_value=0, max_value=8),
    consume=st.none() | st.integers(min_value=0, max_value=10),
)


@dataclass
class Outcome:
    items: list[Any]
    counts: list[StageCounts]
    pulled: int
    closed: int
    error: tuple[str, str, list[str]] | None
    input_closed: bool | None = None


async def run_case(case: Case, make: Callable[..., Callable[..., Any]]) -> Outcome:
    world = World(stop_at=case.stop_at)
    kernels = [_kernel(spec, i, world) for i, spec in enumerate(case.chain)]
    seg = make(kernels, case.source, case.output, stoppable=case.stoppable)
    cnt = [StageCounts() for _ in range(len(kernels) + 1)]
    pulled = 0
    got: list[Any] = []
    error: BaseException | None = None
    input_closed: bool | None = None

    def sync_items() -> Iterator[int]:
        nonlocal pulled
        for n, x in enumerate(case.items):
            if n == case.source_fails_at:
                raise Boom("source failed")
            pulled += 1
            yield x

    async def async_items() -> AsyncIterator[int]:
        for x in sync_items():
            if x % 4 == 0:
                await anyio.lowlevel.checkpoint()
            yield x

    async def close_upstream() -> None:
        world.closed += 1

    async with anyio.create_task_group() as tg:
        if case.source == "iter":
            src: Any = sync_items() if case.as_iterator else list(case.items)
            if not case.as_iterator:
                pulled = len(case.items)  # a list: nothing to count
        elif case.source == "aiter":
            src = async_items()
        else:
            tx_in, src = anyio.create_memory_object_stream[int](case.capacity)

            async def produce() -> None:
                nonlocal pulled
                async with tx_in:
                    for x in case.items:
                        try:
                            await tx_in.send(x)
                        except anyio.BrokenResourceError:
                            return
                        pulled += 1

            tg.start_soon(produce)
        out: Any = None
        if case.output == "send":
            out, rx_out = anyio.create_memory_object_stream[Any](case.capacity)

            async def consume() -> None:
                async with rx_out:
                    async for y in rx_out:
                        got.append(y)

            tg.start_soon(consume)
        elif case.output == "put":

            async def put(y: Any) -> None:
                if y % 5 == 0:
                    await anyio.lowlevel.checkpoint()
                got.append(y)

            out = put
        elif case.output == "list":
            out = got
        try:
            if case.output == "yield":
                gen = seg(src, out, cnt, world.stop, close_upstream)
                try:
                    async for y in gen:
                        if case.consume is not None and len(got) >= case.consume:
                            break
                        got.append(y)
                finally:
                    await gen.aclose()
            else:
                await seg(src, out, cnt, world.stop, close_upstream)
        except Exception as exc:
            error = exc
        finally:
            if case.output == "send":
                out.close()
            if case.source == "stream":
                input_closed = src._closed
                src.close()
            elif case.source == "aiter":
                await src.aclose()
    if case.source == "stream":
        # How far the producer task got before the loop ended depends on the schedule
        # (the interpreter awaits every receive), not on what the loop did.
        pulled = -1
    shown = None
    if error is not None:
        shown = (type(error).__name__, str(error), list(getattr(error, "__notes__", [])))
    return Outcome(got, cnt, pulled, world.closed, shown, input_closed)


@settings(max_examples=150, deadline=None)
@given(case=cases)
async def test_fused_loops_behave_like_the_interpreter(case: Case) -> None:
    with anyio.fail_after(30):
        fused = await run_case(case, compile_kernels)
        reference = await run_case(case, interpret)
    assert fused == reference


def test_unknown_shapes_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no fused loop from 'file' to 'yield'"):
        interpret([], "file", "yield")
    with pytest.raises(ValueError, match="unknown kernel kind 'fold'"):
        interpret([Kernel("fold", "fold", None)], "iter", "list")  # type: ignore[arg-type]
