"""The plan annotated with a run's numbers, and its live Jupyter view (issue 17).

The SVG is compared with a snapshot file (``tests/observe/snapshots/``); the live view
is driven with a stand-in for IPython's display, so the updates can be counted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from _snapshots import assert_snapshot

from anystream import buffered, from_iterable, map, map_async, parse, where
from anystream.observe.metrics import take_snapshot
from anystream.observe.plan_view import annotate, plan_notes, show_plan

pytestmark = pytest.mark.anyio


async def slow(n: int) -> AsyncIterator[str]:
    for i in range(n):
        await anyio.sleep(0.1)
        yield str(i) if i % 5 else "bad"


async def work(n: int) -> int:
    await anyio.sleep(0.05)
    return n


def pipeline(n: int = 20) -> Any:
    return (
        from_iterable(slow(n))
        | parse(int)
        | where(lambda n: n % 2 == 0, name="even<&>")
        | buffered(8)
        | map_async(work, concurrency=2, name="work")
        | map(lambda n: n + 1)
    )


async def test_notes_and_svg_of_a_finished_run() -> None:
    s = pipeline()
    with anyio.fail_after(30):
        await s.collect()
    first = take_snapshot(s, now=10.0)
    snap = take_snapshot(s, first, now=12.0)
    boxes, boundaries = plan_notes(s.explain(), snap)
    # counts only without rates; the buffer's fill as a bar
    assert boxes[0] == "0.0/s out"
    assert "░░░░░░░░ 0/8" in boundaries
    svg = annotate(s.explain(), first)
    ET.fromstring(svg)  # well-formed
    assert "20 out" in svg
    assert "even&lt;&amp;&gt;" in svg
    assert_snapshot("plan_annotated.svg", svg)


async def test_notes_stop_where_the_snapshot_is_of_another_pipeline() -> None:
    s = pipeline()
    other = from_iterable(["1"]) | parse(int) | map(lambda n: n)
    with anyio.fail_after(30):
        await s.collect()
        await other.collect()
    boxes, boundaries = plan_notes(s.explain(), take_snapshot(other, now=0.0))
    assert boxes == ["1 out"]  # the source only: the segments differ
    assert boundaries == []


async def test_show_plan_updates_one_display_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    display_module = pytest.importorskip("IPython.display")
    shown: list[dict[str, str]] = []
    updates: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool = False) -> None:
            updates.append(bundle)

    def display(bundle: dict[str, str], raw: bool = False, display_id: bool = False) -> Handle:
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr(display_module, "display", display)
    s = pipeline(30)
    with anyio.fail_after(30):
        async with s.stream() as run, show_plan(run, interval=0.5, enabled=True) as view:
            assert view.active
            async for _ in run:
                pass
    assert len(shown) == 1
    assert len(updates) >= 4  # 3 s of run at 0.5 s, then the final counts
    assert any("/s out" in u["image/svg+xml"] for u in updates), "rates while it ran"
    assert "░░░░░░░░ 0/8" in updates[-1]["image/svg+xml"], "drawn once more at the end"
    assert "buffered 8" in updates[-1]["text/plain"]


async def test_show_plan_is_off_outside_jupyter_and_checks_its_input() -> None:
    s = from_iterable([1, 2])
    with anyio.fail_after(10):
        async with s.stream() as run, show_plan(run) as view:
            assert not view.active
            assert [x async for x in run] == [1, 2]
    with pytest.raises(TypeError, match=r"show_plan\(\): run must be a Run"):
        show_plan(s)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"show_plan\(\): interval must be > 0"):
        async with s.stream() as run:
            show_plan(run, interval=0)
