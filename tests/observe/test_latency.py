"""Timing structures: Stopwatch, EntryTimes, StageTiming/PipelineTiming and LatencyReport.

The buffer-wait test runs a producer and a slow consumer over a real anyio memory stream
on the virtual clock, and shows that a wait measured from the buffer *entry* is what the
item really waited, where one stamped after the dequeue (the reference package's way) is
always zero.
"""

from __future__ import annotations

import math

import anyio
import pytest

from anystream.observe import (
    EntryTimes,
    LatencyReport,
    PipelineTiming,
    StageTiming,
    Stopwatch,
    format_duration,
)

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stopwatch_laps() -> None:
    clock = FakeClock()
    watch = Stopwatch(clock)
    clock.now += 2.0
    assert watch.elapsed() == 2.0
    assert watch.lap() == 2.0
    clock.now += 0.5
    assert watch.lap() == 0.5
    assert watch.restart() == clock.now
    clock.now += 1.0
    assert watch.lap() == 1.0


def test_entry_times_are_fifo_and_follow_discards() -> None:
    clock = FakeClock()
    entries = EntryTimes(clock)
    for _ in range(3):
        entries.entered()
        clock.now += 1.0
    entries.discard_oldest()  # drop_oldest threw away the item that entered at 100
    entries.entered()  # at 103...
    entries.discard_newest()  # ...and drop_newest refused it
    assert len(entries) == 2
    assert entries.left() == 103.0 - 101.0
    assert entries.left() == 103.0 - 102.0
    assert len(entries) == 0


async def test_buffer_wait_is_measured_from_entry_not_from_dequeue() -> None:
    # Five items go into a buffer of 5 at once; the consumer takes 1 s per item, so item k
    # waits k seconds in the buffer. Both figures are exact on the virtual clock.
    clock = anyio.current_time
    timing = PipelineTiming(["consumer"], clock=clock)
    reference_style = PipelineTiming(["consumer"], clock=clock)
    entries = timing.entry_times()
    tx, rx = anyio.create_memory_object_stream[int](5)

    async def produce() -> None:
        async with tx:
            for i in range(5):
                entries.entered()  # stamped on the sending side, before the buffer
                await tx.send(i)

    async def consume() -> None:
        watch = timing.stopwatch()
        async with rx:
            async for _ in rx:
                wait = entries.left()
                # The reference package stamps the entry only after the dequeue:
                entered_late = clock()
                reference_style.record(0, clock() - entered_late, 0.0, 0.0)
                watch.restart()
                await anyio.sleep(1.0)  # compute
                timing.record(0, wait, watch.lap(), 0.0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        tg.start_soon(consume)

    ours = timing.report()["consumer"]
    assert ours.count == 5
    assert ours.wait.max == pytest.approx(4.0)
    assert ours.wait.mean == pytest.approx(2.0)
    assert ours.wait.p50 == pytest.approx(2.0, rel=0.01)
    assert ours.compute.mean == pytest.approx(1.0)
    theirs = reference_style.report()["consumer"]
    assert theirs.wait.max == 0.0  # the bug the issue describes: always zero


async def test_blocked_is_time_spent_handing_downstream() -> None:
    # A rendezvous to a consumer that takes 2 s per item: every send after the first
    # blocks until the consumer comes back for the next one.
    clock = anyio.current_time
    timing = PipelineTiming(["producer"], clock=clock)
    tx, rx = anyio.create_memory_object_stream[int](0)

    async def produce() -> None:
        watch = timing.stopwatch()
        async with tx:
            for i in range(4):
                watch.restart()
                await tx.send(i)
                timing.record(0, 0.0, 0.0, watch.lap())

    async def consume() -> None:
        async with rx:
            async for _ in rx:
                await anyio.sleep(2.0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        tg.start_soon(produce)
    blocked = timing.report()["producer"].blocked
    assert blocked.count == 4
    assert blocked.max == pytest.approx(2.0)
    assert blocked.p50 == pytest.approx(2.0, rel=0.01)


def make_report() -> LatencyReport:
    timing = PipelineTiming(["parse", "map_thread(digest)"])
    for i in range(1, 101):
        timing.record(0, i * 1e-6, 2e-6, 0.0)
        timing.stages[1].record(i * 1e-3, 0.004, 1e-4)
        timing.record_end_to_end(i * 1e-3 + 0.005)
    return timing.report()


def test_report_figures() -> None:
    report = make_report()
    parse = report["parse"]
    assert parse.count == 100
    assert parse.wait.max == pytest.approx(100e-6)
    assert parse.wait.p50 == pytest.approx(50e-6, rel=0.01)
    assert parse.wait.p95 == pytest.approx(95e-6, rel=0.01)
    assert parse.wait.p99 == pytest.approx(99e-6, rel=0.01)
    assert parse.wait.mean == pytest.approx(50.5e-6)
    assert parse.blocked.max == 0.0
    assert report["map_thread"] is report.stages[1]
    assert report.end_to_end.count == 100
    assert report.end_to_end.max == pytest.approx(0.105)
    with pytest.raises(KeyError):
        report["nope"]


def test_report_as_dict_and_table() -> None:
    report = make_report()
    data = report.as_dict()
    assert [s["name"] for s in data["stages"]] == ["parse", "map_thread(digest)"]
    assert set(data["stages"][1]) == {"name", "count", "wait", "compute", "blocked"}
    assert set(data["end_to_end"]) == {"count", "mean", "p50", "p95", "p99", "max"}
    assert data["stages"][1]["compute"]["p50"] == pytest.approx(0.004, rel=0.01)
    table = str(report)
    lines = table.splitlines()
    assert lines[0].split() == ["stage", "metric", "count", "mean", "p50", "p95", "p99", "max"]
    assert any(line.startswith("map_thread(digest)") and "wait" in line for line in lines)
    assert any(line.startswith("end-to-end") for line in lines)
    assert "4ms" in table  # compute of the second stage, with its unit


def test_empty_report_is_printable() -> None:
    report = PipelineTiming(["a"]).report()
    assert report["a"].count == 0
    assert math.isnan(report["a"].wait.p99)
    assert " - " in str(report) or str(report).rstrip().endswith("-")


def test_memory_stays_bounded() -> None:
    stage = StageTiming("s")
    for i in range(200_000):
        stage.record((i % 1000) * 1e-5, 1e-3 + (i % 7) * 1e-6, 0.0)
    assert stage.count == 200_000
    assert stage.wait.buckets < 1000
    assert stage.compute.buckets < 10


def test_format_duration() -> None:
    assert format_duration(0.0) == "0"
    assert format_duration(812e-9) == "812ns"
    assert format_duration(3.204e-6) == "3.204us"
    assert format_duration(0.04512) == "45.12ms"
    assert format_duration(2.5) == "2.5s"
    assert format_duration(3600.0) == "3600s"
    assert format_duration(math.nan) == "-"


def test_pipeline_timing_rejects_a_string_of_names() -> None:
    with pytest.raises(TypeError, match="stage_names"):
        PipelineTiming("parse")
