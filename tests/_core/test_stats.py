"""Per-operator counters."""

from __future__ import annotations

import pytest

from anystream import OpStats, RunStats, StatsSnapshot
from anystream._core.stats import StageCounts


def test_own_counters() -> None:
    op = OpStats("x")
    op.received += 3
    op.emitted += 2
    op.drop("late")
    assert op.snapshot() == StatsSnapshot("x", received=3, emitted=2, dropped={"late": 1})
    assert op.snapshot().in_flight == 0
    assert op.in_flight == 0


def test_bound_counters_read_the_fused_loop_counts() -> None:
    # A fused parse | map: each piece counts what enters it, parse its drops; what parse
    # emitted is what entered map, and the loop counts its output into the next piece.
    parse, mapped, out = StageCounts(5, malformed=1), StageCounts(4), StageCounts(4)
    op0, op1 = OpStats("parse"), OpStats("map")
    op0._bind(parse, (mapped, "received"))
    op1._bind(mapped, (out, "received"))
    assert (op0.received, op0.emitted, op0.dropped) == (5, 4, {"malformed": 1})
    assert (op1.received, op1.emitted, op1.dropped) == (4, 4, {})
    parse.received += 1
    parse.malformed += 1
    assert op0.dropped_total == 2
    assert op0.in_flight == 0


def test_stage_counts_are_slotted_and_drops_by_reason_go_to_their_field() -> None:
    counts = StageCounts()
    with pytest.raises(AttributeError):
        counts.recieved = 1  # type: ignore[attr-defined]  # a typo is an error, not a new field
    op = OpStats("stage")
    op._bind(counts)
    counts.received += 3
    counts.emitted += 1
    op.drop("filtered")
    op.drop("late", 1)
    assert counts == StageCounts(received=3, emitted=1, filtered=1)
    assert op.snapshot() == StatsSnapshot(
        "stage", received=3, emitted=1, dropped={"filtered": 1, "late": 1}
    )


def test_split_binding_reads_two_edges_and_keeps_its_own_drops() -> None:
    before, after = StageCounts(emitted=7), StageCounts(received=5)
    op = OpStats("buffered")
    op._bind_split((before, "emitted"), (after, "received"))
    op.drop("overflow", 2)
    assert (op.received, op.emitted, op.dropped, op.in_flight) == (7, 5, {"overflow": 2}, 0)
    op.received += 1
    assert before.emitted == 8


def test_run_stats_lookup_by_position_and_name() -> None:
    ops = [OpStats("from_iterable"), OpStats("parse(int)"), OpStats("map(f)")]
    stats = RunStats(ops)
    assert stats[1] is ops[1]
    assert stats["parse(int)"] is ops[1]
    assert stats["parse"] is ops[1]
    assert list(stats) == ["from_iterable", "parse(int)", "map(f)"]
    assert len(stats) == 3
    with pytest.raises(KeyError):
        stats["where"]
    ops[1].drop("malformed", 2)
    ops[2].drop("malformed")
    assert stats.dropped == {"malformed": 3}
    assert "parse(int): in=0 out=0 dropped={'malformed': 2}" in repr(stats)
