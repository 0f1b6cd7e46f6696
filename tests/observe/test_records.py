"""MetricsSnapshot.to_records / to_pandas and the history helpers (issue 17)."""

from __future__ import annotations

import sys

import anyio
import pytest

from anystream import buffered, from_iterable, parse
from anystream.observe.metrics import MetricsSnapshot, take_snapshot, to_pandas, to_records

pytestmark = pytest.mark.anyio


async def history() -> list[MetricsSnapshot]:
    s = from_iterable(["1", "x", "3"]) | parse(int) | buffered(2)
    with anyio.fail_after(10):
        await s.collect()
    first = take_snapshot(s, now=100.0)
    second = take_snapshot(s, first, now=101.0, final=True)
    return [first, second]


async def test_records_carry_time_since_the_first_snapshot() -> None:
    first, second = await history()
    rows = to_records([first, second])
    assert len(rows) == 6
    assert [r["time"] for r in rows] == [0.0] * 3 + [1.0] * 3
    assert rows[1]["name"] == "parse(int)"
    assert rows[1]["dropped"] == {"malformed": 1}
    assert rows[5]["buffer_capacity"] == 2
    assert second.to_records()[0]["time"] == 101.0  # raw clock without an origin
    with pytest.raises(TypeError, match=r"to_records\(\): snapshots must be MetricsSnapshot"):
        to_records([first, "later"])  # type: ignore[list-item]


async def test_to_pandas_is_one_row_per_operator_and_snapshot() -> None:
    pytest.importorskip("pandas")
    first, second = await history()
    frame = to_pandas([first, second])
    assert list(frame["time"]) == [0.0] * 3 + [1.0] * 3
    assert list(frame[frame["time"] == 1.0]["emitted"]) == [3, 2, 2]
    one = second.to_pandas(origin=100.0)
    assert len(one) == 3
    assert set(one["kind"]) == {"source", "operator", "buffer"}


async def test_to_pandas_without_pandas_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, _ = await history()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ModuleNotFoundError, match=r"to_pandas\(\) needs pandas"):
        first.to_pandas()
