"""``chunks(n, step=...)`` against RxJS ``bufferCount(n, startBufferEvery)`` (spec
``bufferCount-spec.ts``) and Kotlin's ``windowed(size, step, partialWindows = true)``
documentation, in our own words; frames of 1 s on the virtual clock, both backends.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import anystream as a
from anystream import Stream, chunks
from anystream.testing import record

from ._marble import Boom, src

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def run(stream: Stream[Any]) -> tuple[list[tuple[float, str]], Any]:
    """(time, joined items) of every emitted list, and ("|" or "#", end time) or None."""
    with anyio.fail_after(100):
        rec = await record(stream, until=60, catch=Boom)
    end = None if rec.end_time is None else ("#" if rec.error else "|", rec.end_time)
    return [(t, "".join(str(v) for v in row)) for t, row in rec.events], end


CASES: list[tuple[str, str, int, int, list[tuple[int, str]], Any]] = [
    # bufferCount-spec "should emit buffers at intervals": size 3, a new buffer every 2;
    # the last, partial one at completion
    (
        "rxjs: every 2, size 3",
        "--a--b--c--d--e--f--g--h--i--|",
        3,
        2,
        [(8, "abc"), (14, "cde"), (20, "efg"), (26, "ghi"), (29, "i")],
        ("|", 29),
    ),
    # "should buffer properly (issue #2062)": size 3, every 1 over a synchronous 1..4
    (
        "rxjs: #2062 sliding by one",
        "(1234|)",
        3,
        1,
        [(0, "123"), (0, "234"), (0, "34"), (0, "4")],
        ("|", 0),
    ),
    # "should emit partial buffers if source completes" (size 3, every 1)
    ("rxjs: partial at completion", "-a-b-|", 3, 1, [(5, "ab"), (5, "b")], ("|", 5)),
    # "should emit full buffers if source completes" with gaps (size 2, every 3)
    ("rxjs: gaps", "-a-b-c-d-e-|", 2, 3, [(3, "ab"), (9, "de")], ("|", 11)),
    # the same with a gap item as the last one: nothing pending at completion
    ("rxjs: gap then end", "-a-b-c-|", 2, 3, [(3, "ab")], ("|", 7)),
    # "should emit nothing if source is empty"
    ("rxjs: empty", "|", 3, 1, [], ("|", 0)),
    # "should work with never"
    ("rxjs: never", "-", 3, 1, [], None),
    # "should raise error if source raise error": the open buffers are lost
    ("rxjs: error", "--a--b--c--#", 2, 1, [(5, "ab"), (8, "bc")], ("#", 11)),
    # "should raise error if source throws" at once
    ("rxjs: immediate error", "#", 2, 1, [], ("#", 0)),
    # step equal to size is plain chunks(n)
    ("step == n", "-a-b-c|", 2, 2, [(3, "ab"), (6, "c")], ("|", 6)),
    # Kotlin windowed(3, 2, partialWindows = true) of 1..5: [1,2,3] [3,4,5] [5]
    ("kotlin windowed partial", "(12345|)", 3, 2, [(0, "123"), (0, "345"), (0, "5")], ("|", 0)),
    # Kotlin windowed(2, 1, partialWindows = true) of 1..3: [1,2] [2,3] [3]
    ("kotlin windowed by one", "(123|)", 2, 1, [(0, "12"), (0, "23"), (0, "3")], ("|", 0)),
    # size 1, every 2: every other item
    ("every other item", "-a-b-c-d-|", 1, 2, [(1, "a"), (5, "c")], ("|", 9)),
]


@pytest.mark.parametrize(
    ("given", "n", "step", "events", "end"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_chunks_with_step(
    given: str, n: int, step: int, events: list[tuple[int, str]], end: Any
) -> None:
    assert await run(src(given) | chunks(n, step=step)) == (events, end)


async def test_items_in_gaps_are_counted() -> None:
    # Kotlin windowed(2, 3, partialWindows = false) silently skips them; anystream counts
    s = a.range(10) | chunks(2, step=3)
    with anyio.fail_after(10):
        assert await s.collect() == [[0, 1], [3, 4], [6, 7], [9]]
    op = s.stats()["chunks"]
    assert op.dropped == {"between_chunks": 3}
    assert (op.received, op.emitted) == (10, 4)


async def test_overlapping_lists_are_independent_copies() -> None:
    with anyio.fail_after(10):
        got = await (a.range(4) | chunks(2, step=1)).collect()
    got[0].append(99)
    assert got == [[0, 1, 99], [1, 2], [2, 3], [3]]


def test_bad_step_is_refused() -> None:
    with pytest.raises(ValueError, match=r"chunks\(\): step must be >= 1, got 0"):
        chunks(2, step=0)
    with pytest.raises(TypeError, match=r"chunks\(\): step must be an int, got float 1.5"):
        chunks(2, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"chunks\(\): step= cannot be combined with timeout="):
        chunks(2, 1.0, step=1)
