"""Sources and per-item operators against RxJS specs (``interval``, ``timer``, ``range``,
``of``, ``EMPTY``/``NEVER``, ``tap``, ``distinct``, ``mergeMap`` with ``concurrent``,
``groupBy``), aiostream's tests (``test_create.py``: ``repeat``, ``range``, ``just``;
``test_transform.py``: ``map`` with ``task_limit``, ``action``; ``test_time.py``:
``spaceout``) and Kotlin Flow's ``buffer`` / ``conflate`` documentation, in our own words;
frames of 1 s on the virtual clock, both backends.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anystream as a
from anystream import (
    buffered,
    dedupe,
    empty,
    group_by,
    interval,
    just,
    map_async,
    merge_map,
    never,
    rate_limit,
    repeat,
    take,
    tap,
    timer,
)
from anystream.testing import record

from ._marble import Boom, apply, draw, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


SOURCES: list[tuple[str, Any, str]] = [
    # interval-spec "should create an observable emitting periodically"
    ("rxjs interval", lambda: interval(2) | take(4), "--0-1-2-(3|)"),
    # interval with a period of 1
    ("rxjs interval(1)", lambda: interval(1) | take(3), "-01(2|)"),
    # timer-spec "should create an observable emitting periodically" with a due time
    ("rxjs timer(3)", lambda: timer(3), "---(0|)"),
    # "should emit a single value immediately" (timer(0))
    ("rxjs timer(0)", lambda: timer(0), "(0|)"),
    # range-spec "should create an observable with numbers 1 to 10": synchronous
    ("rxjs range", lambda: a.range(1, 4), "(123|)"),
    # "should return empty for range(0)"
    ("rxjs range(0)", lambda: a.range(0), "|"),
    # of-spec "should create a cold observable that emits just a value"
    ("rxjs of", lambda: just("x"), "(x|)"),
    # EMPTY: completes at once
    ("rxjs EMPTY", lambda: empty(), "|"),
    # NEVER: nothing, no end
    ("rxjs NEVER", lambda: never(), ""),
    # aiostream test_repeat: repeat(value, times)
    ("aiostream repeat(times=3)", lambda: repeat("r", 3), "(rrr|)"),
    # aiostream test_repeat: endless repeat bounded downstream
    ("aiostream repeat forever", lambda: repeat("r") | take(2), "(rr|)"),
    # RxJS interval + take: the take ends the source at its last item
    ("rxjs interval | take(1)", lambda: interval(5) | take(1), "-----(0|)"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [c[1:] for c in SOURCES], ids=[c[0] for c in SOURCES]
)
async def test_sources(make: Any, expected: str) -> None:
    with anyio.fail_after(100):
        assert await draw(make(), until=30) == expected


OPS: list[tuple[str, str, Any, str]] = [
    # tap-spec "should mirror multiple values and complete"
    ("rxjs tap: mirror", "--1--2--3--|", lambda: tap(lambda _: None), "--1--2--3--|"),
    # "should mirror errors"
    ("rxjs tap: error", "--1--2--#", lambda: tap(lambda _: None), "--1--2--#"),
    # "should mirror empty"
    ("rxjs tap: empty", "|", lambda: tap(lambda _: None), "|"),
    # tap with a coroutine function: awaited before the item goes on
    ("tap async", "-a-b|", lambda: tap(_nap), "-a-b|"),
    # distinct-spec "should distinguish between values" (dedupe with a key bound)
    (
        "rxjs distinct",
        "--a--a--a--b--b--a--|",
        lambda: dedupe(max_keys=10),
        "--a--------b--------|",
    ),
    # "should distinguish values by key"
    (
        "rxjs distinct(key)",
        "--a--A--b--B--|",
        lambda: dedupe(str.lower, max_keys=10),
        "--a-----b-----|",
    ),
    # "should raise error if source raises"
    ("rxjs distinct: error", "--a--a--#", lambda: dedupe(max_keys=10), "--a-----#"),
    # "should distinguish with flushes": ttl forgets a key (here after 5 s)
    ("rxjs distinct(flushes) ~ ttl", "-a-a----a|", lambda: dedupe(ttl=5), "-a------a|"),
    # aiostream test_map with task_limit: results in input order by default
    (
        "aiostream map(task_limit=2)",
        "(abc|)",
        lambda: map_async(_slow_upper, concurrency=2),
        "---A-(BC|)",
    ),
    # the same, unordered: results as they complete
    (
        "aiostream map(ordered=False)",
        "(abc|)",
        lambda: map_async(_slow_upper, concurrency=3, ordered=False),
        "-C-A-(B|)",
    ),
    # aiostream test_spaceout: spaceout(2) ~ rate_limit(1, 2)
    ("aiostream spaceout", "(abc|)", lambda: rate_limit(1, 2), "a-b-(c|)"),
    # rate_limit lets n items through per window
    ("rate_limit(2, 4)", "(abcd|)", lambda: rate_limit(2, 4), "(ab)---(cd|)"),
]

_DELAYS = {"a": 3, "b": 5, "c": 1}


async def _nap(_: object) -> None:
    await anyio.lowlevel.checkpoint()


async def _slow_upper(x: str) -> str:
    await anyio.sleep(_DELAYS[x])
    return x.upper()


@pytest.mark.parametrize(
    ("given", "make", "expected"), [c[1:] for c in OPS], ids=[c[0] for c in OPS]
)
async def test_operators(given: str, make: Any, expected: str) -> None:
    with anyio.fail_after(100):
        rec = await record(src(given) | make(), until=60, catch=Boom)
    assert rec.marbles(frame=1) == expected


async def test_tap_sees_every_item_once_in_order() -> None:
    # tap-spec "should call next with a value"; aiostream test_action
    seen: list[str] = []
    with anyio.fail_after(30):
        assert await (src("-a-b-c|") | tap(seen.append)).collect() == ["a", "b", "c"]
    assert seen == ["a", "b", "c"]


MERGE_MAP: list[tuple[str, str, str, int, str]] = [
    # mergeMap-spec "should mergeMap many outer to inner, with concurrent=1" ~ concatMap
    ("rxjs mergeMap concurrent=1", "-a-b|", "--x-y|", 1, "---x-y--x-y|"),
    # "... concurrent=2": the second inner runs alongside the first; at the tie at frame 5
    # the first inner's y comes first (RxJS: it was scheduled first, when a subscribed)
    ("rxjs mergeMap concurrent=2", "-a-b|", "--x-y|", 2, "---x-(yx)-y|"),
    # "should mergeMap many outer values to many inner values" with no limit in practice:
    # it ends with the last inner, after the outer
    ("rxjs mergeMap unbounded", "-a-b-c|", "--x|", 10, "---x-x-x|"),
    # "should raise error when the inner raises"
    ("rxjs mergeMap inner error", "-a-----|", "-x#", 2, "--x#"),
    # "should raise error when the outer raises"
    ("rxjs mergeMap outer error", "-a-#", "-x---y|", 2, "--x#"),
]


@pytest.mark.parametrize(
    ("outer", "inner", "limit", "expected"),
    [c[1:] for c in MERGE_MAP],
    ids=[c[0] for c in MERGE_MAP],
)
async def test_merge_map(outer: str, inner: str, limit: int, expected: str) -> None:
    with anyio.fail_after(100):
        got = await apply(outer, merge_map(lambda _: src(inner), limit), until=60)
    assert got == expected


async def test_group_by_routes_items_by_key() -> None:
    # groupBy-spec "should group values": each group gets its items, in order
    async def drain(group: Any) -> tuple[Any, list[str]]:
        return group.key, await group.collect()

    s = src("-a-B-c-D-e|") | group_by(str.isupper)
    out: dict[Any, list[str]] = {}
    with anyio.fail_after(30):
        async with s.stream() as groups, anyio.create_task_group() as tg:

            async def keep(group: Any) -> None:
                key, items = await drain(group)
                out[key] = items

            async for group in groups:
                tg.start_soon(keep, group)
    assert out == {False: ["a", "c", "e"], True: ["B", "D"]}


async def test_kotlin_buffer_lets_the_producer_run_ahead() -> None:
    # Kotlin Flow buffer() doc: a producer taking 1 s per item and a collector taking 3 s
    # overlap with a buffer; the total is about n * 3 + 1 rather than n * (1 + 3)
    async def produce(x: int) -> int:
        await anyio.sleep(1)
        return x

    async def collect(s: a.Stream[int]) -> float:
        start = anyio.current_time()
        async with s.stream() as items:
            async for _ in items:
                await anyio.sleep(3)
        return anyio.current_time() - start

    plain = a.range(3) | map_async(produce)
    with anyio.fail_after(60):
        assert await collect(plain) == pytest.approx(12)
        assert await collect(plain | buffered(4)) == pytest.approx(10)


async def test_kotlin_conflate_keeps_only_the_latest() -> None:
    # Kotlin conflate() doc: a slow collector skips intermediate values; anystream:
    # buffered(1, overflow="latest"), counting what it skipped
    s = src("-1-2-3-4-5|") | buffered(1, overflow="latest")
    got: list[str] = []
    with anyio.fail_after(60):
        async with s.stream() as items:
            async for x in items:
                got.append(x)
                await anyio.sleep(5)
            dropped = items.stats()["buffered"].dropped
    assert got[0] == "1"
    assert got[-1] == "5"
    assert len(got) + dropped.get("overflow", 0) == 5
