"""merge / merge_with, concat / concat_with and zip_latest against RxJS ``merge-spec.ts``,
``concat-spec.ts``, ``combineLatest-spec.ts``, aiostream ``test_combine.py`` and Kotlin's
``merge`` / ``combine`` docs; frames of 1 s on the virtual clock, both backends."""

from __future__ import annotations

from typing import Any

import pytest

from anystream import Stream, concat, concat_with, merge, merge_with, zip_latest
from anystream.testing import record

from ._marble import draw, expect, src

pytestmark = pytest.mark.anyio

MERGE = [
    # rxjs merge-spec "should merge hot and cold"-like: interleaved by arrival time
    (["-a--b--c-|", "--x--y-|"], "-ax-by-c-|"),
    # "should merge parallel emissions": same-frame items, first input first
    (["---a----b----c----|", "---x----y----z----|"], "---(ax)-(by)-(cz)-|"),
    # "should merge empty and empty" / "should merge three empties"
    (["|", "|"], "|"),
    (["|", "|", "|"], "|"),
    # "should merge never and empty": never ends
    (["-", "|"], ""),
    # "should merge never and never"
    (["-", "-"], ""),
    # "should merge empty and throw" / "should merge hot and throw"
    (["|", "#"], "#"),
    (["-a--b--c--|", "--#"], "-a#"),
    # "should merge never and throw"
    (["-", "---#"], "---#"),
    # "should merge single lonely observable"
    (["-a-b-c-|"], "-a-b-c-|"),
    # the merge ends only when the last input ends (completion while another is pending)
    (["a|", "----b|"], "a---b|"),
    # Kotlin merge doc: "ordering of elements is not preserved": a later input's early item
    # comes first
    (["---a|", "-b|"], "-b-a|"),
    # aiostream test_merge: an error in one input closes the others, items already out stay
    (["-a-b-c-d|", "----#"], "-a-b#"),
]


@pytest.mark.parametrize(("inputs", "expected"), MERGE)
async def test_merge(inputs: list[str], expected: str) -> None:
    assert await draw(merge(*(src(d) for d in inputs)), until=40) == expect(expected)


@pytest.mark.parametrize(("inputs", "expected"), MERGE)
async def test_merge_with(inputs: list[str], expected: str) -> None:
    first, *others = (src(d) for d in inputs)
    stream = first | merge_with(*others) if others else first
    assert await draw(stream, until=40) == expect(expected)


CONCAT = [
    # rxjs concat-spec "should emit elements from multiple sources": one after the other,
    # each started only when the previous one has ended
    (["-a-b-|", "-c-d-|"], "-a-b--c-d-|"),
    # "should work properly with scalar observables"
    (["(ab|)", "(cd|)"], "(abcd|)"),
    # "should complete without emit if both sources are empty"
    (["--|", "----|"], "------|"),
    # "should not complete if first source does not completes": the second never starts
    (["---", "--a|"], ""),
    # "should not complete if second source does not completes"
    (["--|", "---"], ""),
    # "should raise error when first source is empty, second source raises error"
    (["--|", "----#"], "------#"),
    # "should raise error without subscribing to second": an error stops everything
    (["---#", "-a|"], "---#"),
    # "should emit element from first source, and should not complete" when first never ends
    (["--a--", "-b|"], "--a"),
    # "should concat if first source emits once and second completes"
    (["--a--|", "--|"], "--a----|"),
    # "should concat an immediately-scheduled source with an immediately-scheduled second"
    (["(abc|)", "(xyz|)"], "(abcxyz|)"),
    # three sources and an empty middle one
    (["-a|", "|", "-b|"], "-a-b|"),
]


@pytest.mark.parametrize(("inputs", "expected"), CONCAT)
async def test_concat(inputs: list[str], expected: str) -> None:
    assert await draw(concat(*(src(d) for d in inputs)), until=40) == expect(expected)


@pytest.mark.parametrize(("inputs", "expected"), CONCAT)
async def test_concat_with(inputs: list[str], expected: str) -> None:
    first, *others = (src(d) for d in inputs)
    assert await draw(first | concat_with(*others), until=40) == expect(expected)


def _label(row: tuple[Any, ...]) -> str:
    return "".join("." if v is None else str(v) for v in row)


async def _events(stream: Stream[tuple[Any, ...]]) -> tuple[list[tuple[float, str]], Any]:
    from ._marble import Boom

    rec = await record(stream, until=40, catch=Boom)
    end = None if rec.end_time is None else ("#" if rec.error else "|", rec.end_time)
    return [(t, _label(row)) for t, row in rec.events], end


# (source case, inputs, partial, events as (frame, tuple with "." for None), end)
ZIP_LATEST: list[tuple[str, list[str], bool, list[tuple[int, str]], Any]] = [
    # rxjs combineLatest-spec "should combineLatest the provided observables": the first
    # tuple once both have emitted, then one per item
    (
        "rxjs combineLatest: basic",
        ["---a---b---|", "--x---y---z|"],
        False,
        [(3, "ax"), (6, "ay"), (7, "by"), (10, "bz")],
        ("|", 11),
    ),
    # ... and anystream's default partial=True also emits before both have emitted (as
    # aiostream's ziplatest), with None for the silent input
    (
        "aiostream ziplatest: partial",
        ["---a---b---|", "--x---y---z|"],
        True,
        [(2, ".x"), (3, "ax"), (6, "ay"), (7, "by"), (10, "bz")],
        ("|", 11),
    ),
    # "should work with empty and error" / "should work with throw and empty"
    ("rxjs combineLatest: error first", ["---#", "-a---|"], False, [], ("#", 3)),
    ("rxjs combineLatest: error after items", ["-a--#", "--x---|"], False, [(2, "ax")], ("#", 4)),
    # "should work with empty and never": RxJS never completes; anystream's
    # partial=False ends at once, since no tuple can ever be formed (docs/operators.md)
    ("rxjs combineLatest: empty and never (differs)", ["|", "-"], False, [], ("|", 0)),
    # ... with partial=True an empty input does not end the other
    ("partial: empty and items", ["|", "-a-b|"], True, [(1, ".a"), (3, ".b")], ("|", 4)),
    # "should work with hot-empty and hot-single"-like: one input ends without emitting
    # later: partial=False ends at that end
    ("rxjs combineLatest: silent input ends", ["--|", "-a-b-|"], False, [], ("|", 2)),
    # "should work with two nevers"
    ("rxjs combineLatest: never and never", ["-", "-"], False, [], None),
    # "should combineLatest hot with simultaneous emissions": each item its own tuple,
    # first input first within a frame
    (
        "rxjs combineLatest: simultaneous",
        ["-a-b|", "-x-y|"],
        False,
        [(1, "ax"), (3, "bx"), (3, "by")],
        ("|", 4),
    ),
    # "should end when all inputs have ended": the first has ended, the second still emits
    # against the last item of the first
    (
        "rxjs combineLatest: one ends early",
        ["-a|", "--x--y|"],
        False,
        [(2, "ax"), (5, "ay")],
        ("|", 6),
    ),
    # Kotlin combine doc: "combines the most recently emitted values", with three inputs
    (
        "kotlin combine: three inputs",
        ["a---b|", "-x|", "--1|"],
        False,
        [(2, "ax1"), (4, "bx1")],
        ("|", 5),
    ),
]


@pytest.mark.parametrize(
    ("inputs", "partial", "events", "end"),
    [c[1:] for c in ZIP_LATEST],
    ids=[c[0] for c in ZIP_LATEST],
)
async def test_zip_latest(
    inputs: list[str], partial: bool, events: list[tuple[int, str]], end: Any
) -> None:
    got, got_end = await _events(zip_latest(*(src(d) for d in inputs), partial=partial))
    assert got == events
    assert got_end == end


async def test_merge_and_concat_of_nothing() -> None:
    # rxjs merge-spec / concat-spec "should complete with no sources" (merge() / concat()):
    # both end at once without an item
    assert await draw(merge(), until=10) == "|"
    assert await draw(concat(), until=10) == "|"


ZIP_LATEST_MORE: list[tuple[str, list[str], bool, list[tuple[int, str]], Any]] = [
    # aiostream test_ziplatest with an error: the tuples so far, then the error
    ("partial: error", ["-a---#", "--x-y-|"], True, [(1, "a."), (2, "ax"), (4, "ay")], ("#", 5)),
    # partial=True with simultaneous first items: one tuple per item, first input first
    ("partial: same frame", ["-a|", "-x|"], True, [(1, "a."), (1, "ax")], ("|", 2)),
    # rxjs combineLatest-spec "should work with never and a hot source": never never ends
    ("rxjs combineLatest: never and items", ["-", "-a-b|"], False, [], None),
    # ... and with partial=True the items still come, None standing for never's
    ("partial: never and items", ["-", "-a-b|"], True, [(1, ".a"), (3, ".b")], None),
]


@pytest.mark.parametrize(
    ("inputs", "partial", "events", "end"),
    [c[1:] for c in ZIP_LATEST_MORE],
    ids=[c[0] for c in ZIP_LATEST_MORE],
)
async def test_zip_latest_more(
    inputs: list[str], partial: bool, events: list[tuple[int, str]], end: Any
) -> None:
    got, got_end = await _events(zip_latest(*(src(d) for d in inputs), partial=partial))
    assert got == events
    assert got_end == end
