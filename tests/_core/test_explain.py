"""``Stream.explain()``: the plan described without running, and its memory bound."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest

from anystream import (
    Stream,
    buffered,
    from_iterable,
    map,
    map_async,
    map_thread,
    merge,
    tumbling_window,
    where,
)
from anystream._core.explain import BoundaryPart, Explanation, SegmentPart, StagePart
from anystream.ops._map_async import HANDOFF_MIN


async def _fn(x: int) -> int:
    await anyio.sleep(0.001)
    return x


def _double(x: int) -> int:
    return 2 * x


def _even(x: int) -> bool:
    return x % 2 == 0


def test_a_fused_pipeline_is_one_segment() -> None:
    s = from_iterable(range(10)) | map(_double) | where(_even)
    assert str(s.explain()) == (
        "source    from_iterable\n"
        "segment   map(_double) | where(_even)\n"
        "memory bound: 1 items (0 buffered + 1 in hand)"
    )


def test_a_buffer_shows_its_capacity_and_overflow_policy() -> None:
    s = from_iterable(range(10)) | map(_double) | buffered(50, overflow="drop_oldest")
    ex = s.explain()
    assert str(ex) == (
        "source    from_iterable\n"
        "segment   map(_double)\n"
        "boundary  buffered 50, drop_oldest\n"
        "segment   (pass-through)\n"
        "memory bound: 52 items (50 buffered + 2 in hand)"
    )
    assert ex.boundaries == (BoundaryPart(50, "drop_oldest", explicit=True),)


def test_stages_show_their_concurrency_and_hand_offs() -> None:
    s = from_iterable(range(10)) | map_async(_fn, concurrency=8) | tumbling_window(1.0)
    ex = s.explain()
    assert str(ex) == (
        "source    from_iterable\n"
        "segment   (pass-through)\n"
        "boundary  hand-off 32, block\n"
        "stage     map_async(_fn)  concurrency 8, holds 16\n"
        "boundary  hand-off 32, block\n"
        "stage     tumbling_window(1)  concurrency 1, holds 1\n"
        "boundary  hand-off 0, block\n"
        "segment   (pass-through)\n"
        "memory bound: 83 items (64 buffered + 19 in hand)"
    )
    assert ex.stages == (StagePart("map_async(_fn)", 8, 16), StagePart("tumbling_window(1)", 1, 1))


def test_merge_explains_each_input() -> None:
    a = from_iterable(range(3)) | buffered(3)
    b = from_iterable(range(3)) | map(_double)
    ex = merge(a, b).explain()
    assert str(ex) == (
        "source    merge(2)\n"
        "  input 1:\n"
        "    source    from_iterable\n"
        "    segment   (pass-through)\n"
        "    boundary  buffered 3, block\n"
        "    segment   (pass-through)\n"
        "    memory bound: 5 items (3 buffered + 2 in hand)\n"
        "  input 2:\n"
        "    source    from_iterable\n"
        "    segment   map(_double)\n"
        "    memory bound: 1 items (0 buffered + 1 in hand)\n"
        "segment   (pass-through)\n"
        # 1 for the consumer's segment, 1 per input waiting to be forwarded.
        "memory bound: 9 items (0 buffered + 3 in hand + 6 in inputs)"
    )
    assert ex.inputs[1].segments == (SegmentPart(("map(_double)",)),)


def test_text_lines_fit_80_columns() -> None:
    long = "x" * 120
    s = from_iterable(range(3)) | map(_double, name=long) | map_thread(_double, name=long)
    for line in str(s.explain()).splitlines():
        assert len(line) <= 80


# The pipelines and documented bounds of test_runner's memory-bound test.
BOUNDS: list[tuple[Callable[[Stream[int]], Stream[int]], int]] = [
    (lambda s: s | buffered(5), 5 + 2),
    (lambda s: s | buffered(10) | map(_double) | buffered(3), 10 + 3 + 3),
    # map_async(concurrency=c): its hand-offs hold max(c, HANDOFF_MIN) each.
    (lambda s: s | map_async(_fn, concurrency=4), 2 * 4 + HANDOFF_MIN + HANDOFF_MIN + 2),
    (lambda s: s | map_async(_fn, concurrency=4, ordered=False), 4 + 2 * HANDOFF_MIN + 2),
    (lambda s: s | buffered(0), 0 + 2),
    # README: map_thread(workers=w) holds 2w ordered, w unordered.
    (lambda s: s | map_thread(_double, workers=3), 2 * 3 + 0 + 0 + 2),
    (lambda s: s | map_thread(_double, workers=3, ordered=False), 3 + 0 + 0 + 2),
]


@pytest.mark.parametrize(("stages", "bound"), BOUNDS)
def test_the_bound_is_the_readme_formula(
    stages: Callable[[Stream[int]], Stream[int]], bound: int
) -> None:
    assert stages(from_iterable(range(3))).explain().memory_bound == bound


class _Endless:
    def __init__(self) -> None:
        self.pulled = 0

    async def gen(self) -> AsyncIterator[int]:
        i = 0
        while True:
            self.pulled += 1
            yield i
            i += 1


@pytest.mark.anyio
@pytest.mark.parametrize(("stages", "bound"), BOUNDS[:5])
async def test_what_a_run_keeps_in_flight_never_exceeds_the_explained_bound(
    stages: Callable[[Stream[int]], Stream[int]], bound: int
) -> None:
    src = _Endless()
    s = stages(from_iterable(src.gen()))
    explained = s.explain().memory_bound
    worst = delivered = 0
    async with s.stream() as items:
        async for _ in items:
            delivered += 1
            await anyio.sleep(0.05)  # a slow consumer
            worst = max(worst, src.pulled - delivered)
            if delivered == 40:
                break
    assert 0 < worst <= explained


def test_the_svg_parses_and_names_every_operator() -> None:
    a = from_iterable(range(3)) | map(_double, name="left<&>") | buffered(4, overflow="drop_newest")
    s = (
        merge(a, from_iterable(range(3)))
        | map(_double)
        | map_async(_fn, concurrency=8)
        | tumbling_window(1.0)
        | where(_even)
    )
    ex = s.explain()
    for svg in (ex._repr_svg_(), s._repr_html_()):
        root = ET.fromstring(svg)
        texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        for name in [
            "left<&>",
            "merge(2)",
            "map(_double)",
            "map_async(_fn) x8",
            "tumbling_window(1)",
            "where(_even)",
            "buffered 4, drop_newest",
            f"memory bound: {ex.memory_bound} items",
        ]:
            assert name in texts
    assert "<script" not in ex._repr_html_()


def test_explain_does_not_run_the_stream() -> None:
    class Counting:
        pulls = 0

        def __iter__(self) -> Iterator[int]:
            for i in range(3):
                Counting.pulls += 1
                yield i

    s = from_iterable(Counting()) | map_async(_fn, concurrency=2) | buffered(2)
    ex = s.explain()
    assert isinstance(ex, Explanation)
    assert Counting.pulls == 0
    with pytest.raises(RuntimeError):
        s.stats()  # no run happened
    assert repr(s) == "Stream(from_iterable | map_async(_fn) | buffered(2))"
