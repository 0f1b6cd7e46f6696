"""The displays of RunStats, MetricsSnapshot, LatencyReport and Window (issue 17).

Jupyter shows ``_repr_html_``, rich shows ``__rich__``: both are compared with snapshot
files (``tests/observe/snapshots/``), and user data (operator names, keys, items) is
escaped, never interpreted as HTML or rich markup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _snapshots import assert_snapshot, rich_text

from anystream import Stream, buffered, from_iterable, parse, tumbling_window, where
from anystream.observe.latency import LatencyReport, StageReport, Summary
from anystream.observe.metrics import take_snapshot
from anystream.ops.window import Window

pytestmark = pytest.mark.anyio

EVIL = "<script>[bold]x"


def pipeline() -> Stream[int]:
    return (
        from_iterable(["1", "x", "3", "4", "5"])
        | parse(int)
        | buffered(4)
        | where(lambda n: n > 3, name=EVIL)
    )


async def test_run_stats_html_and_rich() -> None:
    s = pipeline()
    with anyio.fail_after(10):
        assert await s.collect() == [4, 5]
    stats = s.stats()
    page = stats._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert_snapshot("run_stats.html", page)
    text = rich_text(stats, width=100)
    assert "where(<script>[bold]x)" in text, "a name is shown as written, not as markup"
    assert_snapshot("run_stats.txt", text)


async def test_metrics_snapshot_html_rich_and_repr() -> None:
    s = pipeline()
    with anyio.fail_after(10):
        await s.collect()
    first = take_snapshot(s, now=10.0)
    snap = take_snapshot(s, first, now=12.0, final=True)
    page = snap._repr_html_()
    assert "<script>" not in page
    assert_snapshot("metrics_snapshot.html", page)
    assert_snapshot("metrics_snapshot.txt", rich_text(snap, width=100))
    # The plain repr is one line that names each operator, not a wall of fields.
    line = repr(snap)
    assert "\n" not in line
    assert line.startswith("MetricsSnapshot(final, rates over 2 s; from_iterable: in=5 out=5")


def report() -> LatencyReport:
    def summary(count: int, base: float) -> Summary:
        return Summary(count, base, base, base * 2, base * 3, base * 4)

    stage = StageReport(
        name="map(<b>)",
        count=3,
        wait=summary(3, 0.002),
        compute=summary(3, 0.0005),
        blocked=Summary(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan")),
    )
    return LatencyReport(stages=(stage,), end_to_end=summary(3, 0.01))


def test_latency_report_html_and_rich() -> None:
    page = report()._repr_html_()
    assert "map(&lt;b&gt;)" in page
    assert_snapshot("latency_report.html", page)
    assert_snapshot("latency_report.txt", rich_text(report()))


def test_window_made_by_hand_shows_its_times_as_given() -> None:
    window = Window(10.0, 12.0, ["<a>", "b"], key="k&1", count=2)
    page = window._repr_html_()
    assert "[10, 12)" in page
    assert "&lt;a&gt;" in page
    assert_snapshot("window_plain.html", page)


def test_window_lists_the_first_items_and_counts_the_rest() -> None:
    window: Window[int] = Window(100.5, 101.5, list(range(8)), count=8)
    window.origin = 100.0
    assert window.span() == "[+0.500 s, +1.500 s)"
    page = window._repr_html_()
    assert "0, 1, 2, 3, 4, … 3 more" in page
    assert_snapshot("window_relative.html", page)
    assert_snapshot("window_relative.txt", rich_text(window, width=60))


async def ticks() -> AsyncIterator[int]:
    for i in range(5):
        await anyio.sleep(0.4)
        yield i


async def test_processing_time_windows_show_seconds_since_the_run_started() -> None:
    with anyio.fail_after(30):
        windows = await (from_iterable(ticks()) | tumbling_window(1.0)).collect()
    assert [w.span() for w in windows] == [
        "[+0.000 s, +1.000 s)",
        "[+1.000 s, +2.000 s)",
        "[+2.000 s, +3.000 s)",
    ]
    # The origin is for display only: equality and repr are what they were.
    assert windows[0] == Window(windows[0].start, windows[0].end, [0, 1], count=2)
    assert "origin" not in repr(windows[0])
    assert "+1.000 s" in windows[1]._repr_html_()
