"""slice / item / cycle, with_latest_from and exhaust_map against RxJS
``elementAt-spec.ts``, ``skip``/``take`` specs, ``repeat-spec.ts``,
``withLatestFrom-spec.ts``, ``exhaustMap-spec.ts`` and aiostream's ``test_select.py`` /
``test_transform.py`` (``getitem``, ``cycle``), in our own words; frames of 1 s on the
virtual clock, both backends.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import anystream as a
from anystream import cycle, exhaust_map, item, take, with_latest_from
from anystream import slice as slice_
from anystream.testing import record

from ._marble import Boom, apply, draw, expect, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def timed(stream: a.Stream[Any]) -> tuple[list[tuple[float, Any]], Any]:
    with anyio.fail_after(100):
        rec = await record(stream, until=60, catch=(Boom, IndexError))
    end = None if rec.end_time is None else ("#" if rec.error else "|", rec.end_time)
    return list(rec.events), end


SEQUENCE: list[tuple[str, str, Any, str]] = [
    # elementAt-spec "should return first element by zero-based index"
    ("rxjs elementAt(0)", "--a--b--c--|", lambda: item(0), "--(a|)"),
    # "should return non-first element by zero-based index"
    ("rxjs elementAt(3)", "--a--b--c--d--e--f--|", lambda: item(3), "-----------(d|)"),
    # "should return last element by zero-based index"
    ("rxjs elementAt(2)", "--a--b--c-d---|", lambda: item(2), "--------(c|)"),
    # "should raise error if source is Empty Observable" (anystream: IndexError)
    ("rxjs elementAt: empty", "|", lambda: item(0), "#"),
    # "should raise error if index is out of range but does not have default value"
    ("rxjs elementAt: too short", "--a--|", lambda: item(3), "-----#"),
    # "should propagate error" of the source before the index is reached
    ("rxjs elementAt: source error", "--a--#", lambda: item(3), "-----#"),
    # aiostream getitem with a negative index: the item counted from the end, at the end
    # (DELIBERATE DIFFERENCE: RxJS elementAt(-1) throws at once; documented in the table)
    ("aiostream getitem(-1)", "--a--b--c--|", lambda: item(-1), "-----------(c|)"),
    ("aiostream getitem(-2)", "--a--b--c--|", lambda: item(-2), "-----------(b|)"),
    # skip(1).take(2): items 1 and 2, ending with the last one like take
    ("rxjs skip(1).take(2)", "--a--b--c--d--|", lambda: slice_(1, 3), "-----b--(c|)"),
    # aiostream getitem(slice(1, None, 2)): every other item from position 1
    ("aiostream [1::2]", "-a-b-c-d-e-|", lambda: slice_(1, None, 2), "---b---d---|"),
    # aiostream getitem(slice(0, 0)): nothing, and it ends at once
    ("aiostream [0:0]", "--a--|", lambda: slice_(0, 0), "|"),
    # slice over an empty source
    ("slice: empty", "|", lambda: slice_(1, 3), "|"),
    # slice passes an error through before its stop
    ("slice: error", "-a-#", lambda: slice_(0, 5), "-a-#"),
    # aiostream test_cycle: replays the first pass forever (bounded by take here)
    ("aiostream cycle", "(abc|)", lambda: cycle() | take(7), "(abcabca|)"),
    # cycle replays at once when the upstream has ended (DELIBERATE DIFFERENCE from RxJS
    # repeat(), which re-subscribes and so replays the timing too: see cycle's docstring)
    ("cycle replays at the end", "-a-b|", lambda: cycle() | take(5), "-a-b(aba|)"),
    # an empty upstream gives an empty output (RxJS repeat() of EMPTY completes)
    ("rxjs repeat: empty", "|", lambda: cycle(), "|"),
    # an error in the first pass ends the output with it
    ("rxjs repeat: error", "-a-#", lambda: cycle(), "-a-#"),
]


@pytest.mark.parametrize(
    ("given", "make", "expected"), [c[1:] for c in SEQUENCE], ids=[c[0] for c in SEQUENCE]
)
async def test_sequence(given: str, make: Any, expected: str) -> None:
    with anyio.fail_after(100):
        rec = await record(src(given) | make(), until=60, catch=(Boom, IndexError))
    assert rec.marbles(frame=1) == expect(expected)


def _pairs(events: list[tuple[float, Any]]) -> list[tuple[float, str]]:
    return [(t, "".join(str(v) for v in pair)) for t, pair in events]


LATEST: list[tuple[str, str, str, list[tuple[int, str]], Any]] = [
    # withLatestFrom-spec "should combine events from cold observables"; the first item
    # comes before other's first and is dropped
    (
        "rxjs: cold",
        "-a--b-----c-d-e-|",
        "--1--2-3-4---|",
        [(4, "b1"), (10, "c4"), (12, "d4"), (14, "e4")],
        ("|", 16),
    ),
    # "should raise error if source raises"
    ("rxjs: source error", "-a--#", "1|", [(1, "a1")], ("#", 4)),
    # "should raise error if other raises"
    ("rxjs: other error", "-a----b|", "--#", [], ("#", 2)),
    # "should not emit anything if other never emits"
    ("rxjs: other never emits", "-a-b-|", "-", [], ("|", 5)),
    # "should complete when the source completes, even if other has not"
    ("rxjs: ends with source", "--a--|", "1-------", [(2, "a1")], ("|", 5)),
    # "should keep the latest value of other": several values of other between items
    ("rxjs: latest wins", "-----a|", "-123|", [(5, "a3")], ("|", 6)),
    # "should handle an empty source"
    ("rxjs: empty source", "|", "1|", [], ("|", 0)),
]


@pytest.mark.parametrize(
    ("given", "other", "events", "end"), [c[1:] for c in LATEST], ids=[c[0] for c in LATEST]
)
async def test_with_latest_from(given: str, other: str, events: Any, end: Any) -> None:
    got, ended = await timed(src(given) | with_latest_from(src(other)))
    assert (_pairs(got), ended) == (events, end)


async def test_with_latest_from_counts_the_items_before_others_first() -> None:
    s = src("-a-b---c|") | with_latest_from(src("----1|"))
    with anyio.fail_after(30):
        assert await s.collect() == [("c", "1")]
    assert s.stats()["with_latest_from"].dropped == {"no latest yet": 2}


EXHAUST: list[tuple[str, str, str, str]] = [
    # exhaustMap-spec "should handle outer throw"
    ("rxjs: outer throw", "#", "-x|", "#"),
    # "should handle outer empty"
    ("rxjs: outer empty", "|", "-x|", "|"),
    # "should handle outer never"
    ("rxjs: outer never", "-", "-x|", ""),
    # "should switch with a selector function": b arrives while a's inner runs: ignored
    ("rxjs: ignores while busy", "-a-b-----c-----|", "-x-y|", "--x-y-----x-y--|"),
    # "should not complete if outer completes but inner is active"
    ("rxjs: outer ends first", "-a-|", "--x--y|", "---x--y|"),
    # "should complete when the outer completes after the inner"
    ("rxjs: inner ends first", "-a------|", "-x|", "--x-----|"),
    # "should raise error when inner raises"
    ("rxjs: inner error", "-a-----|", "-x-#", "--x-#"),
    # "should raise error when outer raises while an inner is active"
    ("rxjs: outer error", "-a--#", "--x--y|", "---x#"),
]


@pytest.mark.parametrize(
    ("outer", "inner", "expected"), [c[1:] for c in EXHAUST], ids=[c[0] for c in EXHAUST]
)
async def test_exhaust_map(outer: str, inner: str, expected: str) -> None:
    with anyio.fail_after(100):
        got = await apply(outer, exhaust_map(lambda _: src(inner)), until=60)
    assert got == expect(expected)


async def test_exhaust_map_counts_what_it_ignored() -> None:
    s = src("-a-b-c----d|") | exhaust_map(lambda v: src("-" + v + "---|"))
    with anyio.fail_after(30):
        assert await draw(s, until=60) == expect("--a--------d---|")
    assert s.stats()["exhaust_map"].dropped == {"inner stream running": 2}


async def test_exhaust_map_with_a_synchronous_inner() -> None:
    # exhaustMap-spec "should handle a synchronous inner": each item gets its whole inner
    # stream at its own instant (drawn in anystream's notation: a group is one frame)
    s = src("-a--b--|") | exhaust_map(lambda _: ["x", "y"])
    with anyio.fail_after(30):
        assert await draw(s, until=60) == "-(xy)--(xy)--|"
