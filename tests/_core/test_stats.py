"""Per-operator counters."""

from __future__ import annotations

import pytest

from anystream import OpStats, RunStats, StatsSnapshot


def test_own_counters() -> None:
    op = OpStats("x")
    op.received += 3
    op.emitted += 2
    op.drop("late")
    assert op.snapshot() == StatsSnapshot("x", received=3, emitted=2, dropped={"late": 1})
    assert op.snapshot().in_flight == 0
    assert op.in_flight == 0


def test_bound_counters_read_the_fused_loop_slots() -> None:
    counts = [5, 4, 4, 1, 0]  # in op0, in op1 (=out op0), out, drops op0, drops op1
    op0, op1 = OpStats("parse"), OpStats("map")
    op0._bind(counts, 0, 1, 3, "malformed")
    op1._bind(counts, 1, 2, 4, "dropped")
    assert (op0.received, op0.emitted, op0.dropped) == (5, 4, {"malformed": 1})
    assert (op1.received, op1.emitted, op1.dropped) == (4, 4, {})
    counts[0] += 1
    counts[3] += 1
    assert op0.dropped_total == 2


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
