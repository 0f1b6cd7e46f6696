"""aiostream interop, and the operators anystream shares with aiostream, compared on asyncio.

aiostream runs only on asyncio (library limitation), so this module overrides the
``anyio_backend`` fixture with an asyncio-only one (still on the virtual clock): nothing
here is skipped, the trio parametrisation simply does not exist in this module. One sync
test runs on trio explicitly, to check the connector's clear error there.

The comparison table pairs each shared operator with its aiostream spelling. Every case
feeds the *same* timed input (a :class:`~anystream.testing.ScriptedSource`, which is an
async iterable aiostream accepts as is) to both and asserts the same ``(time, item)``
output: items, order and virtual emission times. Cases are collected only for the names
anystream exports; ``test_every_shared_operator_is_compared`` fails while a name of the
shared set is missing from anystream or from the table.
"""

from __future__ import annotations

import operator as op
import subprocess
import sys
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from aiostream import pipe, stream
from hypothesis import given, settings
from hypothesis import strategies as st

import anystream as A
from anystream.connectors.aiostream import from_aiostream, open_aiostream, to_aiostream
from anystream.testing import ScriptedSource, at, raise_, record, scripted
from anystream.testing._asyncio_clock import clock_backend_options

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """asyncio only, on a fresh virtual clock: aiostream runs only on asyncio."""
    return "asyncio", clock_backend_options("asyncio")


#: The operators the issue lists as sharing a meaning with aiostream: anystream name ->
#: aiostream name. The table below must cover every one of them.
SHARED = {
    "map": "map",
    "where": "filter",
    "take": "take",
    "skip": "skip",
    "take_last": "takelast",
    "skip_last": "skiplast",
    "take_while": "takewhile",
    "drop_while": "dropwhile",
    "chunks": "chunks",
    "enumerate": "enumerate",
    "merge": "merge",
    "zip": "zip",
    "concat": "chain",
    "flat_map": "concatmap",
    "merge_map": "flatmap",
    "switch_map": "switchmap",
    "reduce": "reduce",
}


def timed(*pairs: tuple[float, Any]) -> Callable[[], ScriptedSource[Any]]:
    """A maker of fresh scripted sources (each side of a comparison gets its own)."""
    return lambda: ScriptedSource(*(at(t, x) for t, x in pairs))


#: Ten items, one per second from t = 1, so that every emission has a distinct time.
TEN = timed(*((i + 1.0, i) for i in range(10)))
#: Two sources whose items interleave in time, with no two at the same instant.
LEFT = timed((0.5, "a1"), (2.5, "a2"), (2.75, "a3"))
RIGHT = timed((1.0, "b1"), (1.5, "b2"), (3.0, "b3"))
#: An outer stream for the *_map operators, and the inner stream each item starts.
OUTER = timed((0.0, 1), (1.0, 2), (2.5, 3))


def inner(x: int) -> ScriptedSource[int]:
    # x*10 at +0.4, x*10+1 at +0.8, x*10+2 at +1.2: the second outer item arrives
    # between the second and third inner items of the first one.
    return ScriptedSource(at(0.4, x * 10), at(0.8, x * 10 + 1), at(1.2, x * 10 + 2))


def inner_stream(x: int) -> A.Stream[int]:
    return inner(x).as_stream()


@dataclass(frozen=True)
class Case:
    """One comparison: ``ours()`` and ``theirs()`` must emit the same timeline."""

    id: str
    name: str
    ours: Callable[[], A.Stream[Any]]
    theirs: Callable[[], AsyncIterable[Any]]


def unary(
    id: str,
    name: str,
    source: Callable[[], ScriptedSource[Any]],
    ours: Callable[[], A.Operator[Any, Any]],
    theirs: Callable[[], Any],
) -> Case:
    """A case for a pipeable operator applied to one source."""
    return Case(
        id,
        name,
        lambda: source().as_stream() | ours(),
        lambda: stream.iterate(source()) | theirs(),
    )


def square(x: int) -> int:
    return x * x


def small(x: int) -> bool:
    return x < 4


CASES = [
    unary("map", "map", TEN, lambda: A.map(square), lambda: pipe.map(square)),
    unary(
        "where",
        "where",
        TEN,
        lambda: A.where(lambda x: x % 3 == 0),
        lambda: pipe.filter(lambda x: x % 3 == 0),
    ),
    unary("take-3", "take", TEN, lambda: A.take(3), lambda: pipe.take(3)),
    unary("take-0", "take", TEN, lambda: A.take(0), lambda: pipe.take(0)),
    unary("take-more", "take", TEN, lambda: A.take(20), lambda: pipe.take(20)),
    unary("skip-3", "skip", TEN, lambda: A.skip(3), lambda: pipe.skip(3)),
    unary("skip-more", "skip", TEN, lambda: A.skip(20), lambda: pipe.skip(20)),
    unary("take_last-3", "take_last", TEN, lambda: A.take_last(3), lambda: pipe.takelast(3)),
    unary("take_last-0", "take_last", TEN, lambda: A.take_last(0), lambda: pipe.takelast(0)),
    unary("skip_last-3", "skip_last", TEN, lambda: A.skip_last(3), lambda: pipe.skiplast(3)),
    unary("skip_last-0", "skip_last", TEN, lambda: A.skip_last(0), lambda: pipe.skiplast(0)),
    unary(
        "take_while", "take_while", TEN, lambda: A.take_while(small), lambda: pipe.takewhile(small)
    ),
    unary(
        "drop_while", "drop_while", TEN, lambda: A.drop_while(small), lambda: pipe.dropwhile(small)
    ),
    unary("chunks-3", "chunks", TEN, lambda: A.chunks(3), lambda: pipe.chunks(3)),
    unary("chunks-5", "chunks", TEN, lambda: A.chunks(5), lambda: pipe.chunks(5)),
    unary("enumerate", "enumerate", TEN, lambda: A.enumerate(), lambda: pipe.enumerate()),
    unary(
        "reduce-initial",
        "reduce",
        TEN,
        lambda: A.reduce(op.add, 100),
        lambda: pipe.reduce(op.add, 100),
    ),
    unary("reduce", "reduce", TEN, lambda: A.reduce(op.add), lambda: pipe.reduce(op.add)),
    Case(
        "merge",
        "merge",
        lambda: A.merge(LEFT().as_stream(), RIGHT().as_stream()),
        lambda: stream.merge(LEFT(), RIGHT()),
    ),
    Case(
        "zip",
        "zip",
        lambda: A.zip(LEFT().as_stream(), RIGHT().as_stream()),
        lambda: stream.zip(LEFT(), RIGHT()),
    ),
    Case(
        "zip-uneven",
        "zip",
        lambda: A.zip(LEFT().as_stream(), TEN().as_stream()),
        lambda: stream.zip(LEFT(), TEN()),
    ),
    Case(
        "concat",
        "concat",
        lambda: A.concat(LEFT().as_stream(), RIGHT().as_stream()),
        lambda: stream.chain(LEFT(), RIGHT()),
    ),
    # aiostream's concatmap runs inner streams concurrently unless task_limit=1; anystream's
    # flat_map (like RxJS concatMap, Kotlin flatMapConcat) starts each after the previous
    # one ended, so the timelines match with task_limit=1 (the items match either way).
    unary(
        "flat_map",
        "flat_map",
        OUTER,
        lambda: A.flat_map(inner_stream),
        lambda: pipe.concatmap(inner, task_limit=1),
    ),
    unary(
        "merge_map-2",
        "merge_map",
        OUTER,
        lambda: A.merge_map(inner_stream, 2),
        lambda: pipe.flatmap(inner, task_limit=2),
    ),
    unary(
        "merge_map-1",
        "merge_map",
        OUTER,
        lambda: A.merge_map(inner_stream, 1),
        lambda: pipe.flatmap(inner, task_limit=1),
    ),
    unary(
        "switch_map",
        "switch_map",
        OUTER,
        lambda: A.switch_map(inner_stream),
        lambda: pipe.switchmap(inner),
    ),
]

AVAILABLE = [case for case in CASES if case.name in A.__all__]


async def timeline(xs: AsyncIterable[Any]) -> list[tuple[float, Any]]:
    """Run an aiostream stream in its streamer context; stamp items with their time."""
    start = anyio.current_time()
    out = []
    async with stream.iterate(xs).stream() as streamer:
        async for item in streamer:
            out.append((round(anyio.current_time() - start, 9), item))  # as record() does
    return out


def test_every_shared_operator_is_compared() -> None:
    covered = {case.name for case in CASES}
    assert covered == set(SHARED), "the comparison table must cover the whole shared set"
    assert all(hasattr(pipe, name) for name in SHARED.values())
    missing = sorted(name for name in SHARED if name not in A.__all__)
    assert not missing, f"shared with aiostream but not (yet) in anystream: {missing}"


@pytest.mark.parametrize("case", AVAILABLE, ids=[case.id for case in AVAILABLE])
async def test_same_output_as_aiostream(case: Case) -> None:
    theirs = await timeline(case.theirs())
    ours = (await record(case.ours())).events
    assert ours == theirs


# -- the same with generated inputs, for the per-item operators ----------------------------

#: name -> (anystream operator of n, aiostream pipe operator of n). Untimed inputs.
PER_ITEM: dict[str, tuple[Callable[[int], Any], Callable[[int], Any]]] = {
    "map": (lambda n: A.map(lambda x: x * n), lambda n: pipe.map(lambda x: x * n)),
    "where": (lambda n: A.where(lambda x: x < n), lambda n: pipe.filter(lambda x: x < n)),
    "take": (lambda n: A.take(n), lambda n: pipe.take(n)),
    "skip": (lambda n: A.skip(n), lambda n: pipe.skip(n)),
    "take_last": (lambda n: A.take_last(n), lambda n: pipe.takelast(n)),
    "skip_last": (lambda n: A.skip_last(n), lambda n: pipe.skiplast(n)),
    "take_while": (
        lambda n: A.take_while(lambda x: x < n),
        lambda n: pipe.takewhile(lambda x: x < n),
    ),
    "drop_while": (
        lambda n: A.drop_while(lambda x: x < n),
        lambda n: pipe.dropwhile(lambda x: x < n),
    ),
    "chunks": (lambda n: A.chunks(n + 1), lambda n: pipe.chunks(n + 1)),
    "enumerate": (lambda n: A.enumerate(), lambda n: pipe.enumerate()),
    "reduce": (lambda n: A.reduce(op.add, n), lambda n: pipe.reduce(op.add, n)),
}
PER_ITEM_AVAILABLE = [name for name in PER_ITEM if name in A.__all__]


@pytest.mark.parametrize("name", PER_ITEM_AVAILABLE)
@settings(max_examples=25, deadline=None)
@given(items=st.lists(st.integers(-5, 5), max_size=15), n=st.integers(0, 12))
async def test_same_items_as_aiostream_for_any_input(name: str, items: list[int], n: int) -> None:
    ours_op, theirs_op = PER_ITEM[name]
    ours = await (A.from_iterable(items) | ours_op(n)).collect()
    theirs = await (stream.iterate(items) | theirs_op(n) | pipe.list())
    assert ours == theirs


# -- aiostream streams as anystream sources ------------------------------------------------


async def test_from_iterable_accepts_an_aiostream_stream() -> None:
    # The issue promises that from_iterable accepts an aiostream stream. It iterates it,
    # but outside aiostream's streamer context, which makes aiostream warn ("Streamer is
    # iterated outside of its context"): an error under filterwarnings = error.
    xs = stream.iterate([1, 2, 3]) | pipe.map(square)
    assert await A.from_iterable(xs).collect() == [1, 4, 9]


async def test_from_aiostream_runs_an_aiostream_pipeline() -> None:
    xs = stream.iterate(TEN()) | pipe.map(square) | pipe.filter(lambda x: x % 2 == 0)
    rec = await record(from_aiostream(xs) | A.map(str))
    assert rec.events == [(1.0, "0"), (3.0, "4"), (5.0, "16"), (7.0, "36"), (9.0, "64")]


async def test_from_aiostream_is_rerunnable() -> None:
    s = from_aiostream(stream.range(4) | pipe.map(square))
    assert await s.collect() == [0, 1, 4, 9]
    assert await s.collect() == [0, 1, 4, 9]
    assert s.stats().operators[0].name == "aiostream"


async def test_from_aiostream_accepts_any_async_iterable() -> None:
    assert await from_aiostream(ScriptedSource(1, 2), name="script").collect() == [1, 2]


async def test_from_aiostream_early_exit_closes_the_aiostream_pipeline() -> None:
    source = ScriptedSource(*(at(i, i) for i in range(100)))
    xs = stream.iterate(source) | pipe.map(square)
    assert await (from_aiostream(xs) | A.take(3)).collect() == [0, 1, 4]
    assert source.opened == source.closed == 1


async def test_from_aiostream_early_exit_through_a_buffer() -> None:
    source = ScriptedSource(*(at(i, i) for i in range(100)))
    xs = stream.iterate(source) | pipe.map(square)
    async with (from_aiostream(xs) | A.buffered(4)).stream() as items:
        async for item in items:
            if item == 9:
                break
    assert source.opened == source.closed == 1


async def test_from_aiostream_error_propagates_as_itself() -> None:
    error = ValueError("boom")
    xs = stream.iterate(ScriptedSource(at(1, 1), at(2, raise_(error)))) | pipe.map(square)
    with pytest.raises(ValueError, match="boom") as info:
        await (from_aiostream(xs) | A.buffered(2)).collect()
    assert info.value is error


def test_from_aiostream_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="source must be an aiostream stream"):
        from_aiostream([1, 2, 3])  # type: ignore[arg-type]


# -- anystream runs handed to aiostream ----------------------------------------------------


async def test_to_aiostream_inside_the_run() -> None:
    pipeline = scripted(*(at(i, i) for i in range(6))) | A.buffered(2) | A.map(square)
    async with pipeline.stream() as items:
        xs = to_aiostream(items) | pipe.map(str) | pipe.list()
        assert await xs == ["0", "1", "4", "9", "16", "25"]


async def test_open_aiostream_with_aiostream_operators() -> None:
    source = ScriptedSource(*(at(i, i) for i in range(100)))
    pipeline = source.as_stream() | A.buffered(4) | A.map(square)
    start = anyio.current_time()
    async with open_aiostream(pipeline) as xs:
        ys = xs | pipe.skip(1) | pipe.take(3)
        assert await (ys | pipe.list()) == [1, 4, 9]
    assert anyio.current_time() - start == 3
    # aiostream's take ended the iteration; leaving the block ended the run.
    assert source.opened == source.closed == 1


async def test_open_aiostream_merges_with_aiostream_sources() -> None:
    pipeline = LEFT().as_stream() | A.buffered(1)
    async with open_aiostream(pipeline) as xs:
        assert await timeline(stream.merge(xs, RIGHT())) == [
            (0.5, "a1"),
            (1.0, "b1"),
            (1.5, "b2"),
            (2.5, "a2"),
            (2.75, "a3"),
            (3.0, "b3"),
        ]


async def test_open_aiostream_error_propagates_as_itself() -> None:
    error = KeyError("k")
    pipeline = scripted(at(1, 1), at(2, raise_(error))) | A.buffered(1)
    with pytest.raises(KeyError) as info:
        async with open_aiostream(pipeline) as xs:
            await (xs | pipe.list())
    assert info.value is error


async def test_run_ends_when_its_iterator_is_closed_early() -> None:
    # Core bug (runner.py, Run._finished): aiostream aclose()s the iterator it reads as
    # soon as it is done with it (after a take). A final generator closed early has
    # ag_frame None, just like an exhausted one, so __aexit__ takes the run for
    # finished, does not cancel its task group, and waits forever for the source task
    # blocked sending into the buffer. The connector works around it (_Unclosable);
    # this test shows the bug without aiostream. Deadlock -> TimeoutError at once.
    pipeline = A.from_iterable(range(100)) | A.buffered(4)
    with anyio.fail_after(60):
        async with pipeline.stream() as items:
            iterator = aiter(items)
            assert await anext(iterator) == 0
            await iterator.aclose()  # type: ignore[attr-defined]


def test_open_and_to_aiostream_check_arguments() -> None:
    with pytest.raises(TypeError, match="stream must be an anystream Stream"):
        open_aiostream([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="items must be a running stream"):
        to_aiostream(42)  # type: ignore[arg-type]


def test_the_connector_fails_clearly_on_trio() -> None:
    async def main() -> None:
        await from_aiostream(stream.range(3)).collect()

    with pytest.raises(RuntimeError, match="aiostream runs only on asyncio"):
        anyio.run(main, backend="trio")


def test_import_anystream_does_not_import_aiostream() -> None:
    code = (
        "import sys, anystream, anystream.testing, anystream.connectors; "
        "assert 'aiostream' not in sys.modules, 'aiostream imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
