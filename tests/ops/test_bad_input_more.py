"""More of the bad-input matrix (issue 21): hangs refused, hopping windows, unclear build errors.

Same shape as ``test_bad_input.py``: each row is refused at build time with a message naming
the operator, the argument and what was wrong, or runs (on both backends, under a
virtual-clock timeout and a real-time watchdog) with an exact output and exact drop counts.
"""

from __future__ import annotations

import faulthandler
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from _bad_input import REAL_TIME_GUARD, VIRTUAL_TIMEOUT, Means, Refused, check, check_names

from anystream import (
    Acked,
    Stream,
    concat,
    from_acked,
    from_iterable,
    from_lines,
    just,
    map,
    merge,
    sample,
    sliding_window,
    tumbling_window,
    zip,
    zip_latest,
)
from anystream.testing import at, end, scripted

pytestmark = pytest.mark.anyio


async def agen() -> AsyncIterator[int]:
    yield 1


def nothing() -> None:
    pass


def window_items(w: Any) -> Any:
    return (w.start, w.end, w.items)


EXPECTED_STREAM = "expected an anystream Stream"
CASES: dict[str, Refused | Means] = {
    # 1. Arguments that would spin forever are refused, naming the documented limit.
    "sliding-size-huge": Refused(
        lambda: sliding_window(1e12, 1),
        ValueError,
        ("sliding_window()", "size=1e+12", "step=1", "10,000", "MAX_WINDOWS_PER_ITEM"),
    ),
    "sliding-step-tiny": Refused(
        lambda: sliding_window(1, 1e-12),
        ValueError,
        ("sliding_window()", "step=1e-12", "10,000"),
    ),
    "sliding-step-tiny-event-time": Refused(
        lambda: sliding_window(1, 1e-12, time=float), ValueError, ("sliding_window()", "10,000")
    ),
    "sliding-both-tiny-processing": Refused(
        lambda: sliding_window(1e-9, 1e-9), ValueError, ("sliding_window()", "size", "1e-06")
    ),
    "tumbling-size-tiny-processing": Refused(
        lambda: tumbling_window(1e-12, emit_empty=True),
        ValueError,
        ("tumbling_window()", "size=1e-12", "1e-06"),
    ),
    "sample-period-tiny": Refused(
        lambda: sample(1e-12),
        ValueError,
        ("sample()", "period=1e-12", "1e-06", "MIN_SAMPLE_PERIOD"),
    ),
    # At the limits: accepted.
    "sliding-10000-windows-per-item": Means(
        lambda: sliding_window(10_000, 1, time=float, aggregate=(int, lambda a, x: a + 1)),
        (0.5,),
        [1] * 10_000,
        shape=lambda w: w.value,
    ),
    "sliding-tiny-event-time": Means(
        lambda: sliding_window(2e-9, 1e-9, time=float),
        (0.0, 1.5e-9),
        [[0.0], [0.0, 1.5e-9], [1.5e-9]],
        shape=lambda w: w.items,
    ),
    # 2. Hopping windows (step > size): items in the gaps are dropped and counted.
    "sliding-hopping-event-time": Means(
        lambda: sliding_window(1, 3, time=float),
        (0.0, 0.5, 1.0, 2.0, 3.0, 3.5, 5.0, 6.2),
        [(0.0, 1.0, [0.0, 0.5]), (3.0, 4.0, [3.0, 3.5]), (6.0, 7.0, [6.2])],
        shape=window_items,
        dropped={"between_windows": 3},
    ),
    "sliding-hopping-huge-step": Means(
        lambda: sliding_window(1, 1e12, time=float),
        (0.0, 0.5, 2.0, 1e12 + 0.5),
        [(0.0, 1.0, [0.0, 0.5]), (1e12, 1e12 + 1, [1e12 + 0.5])],
        shape=window_items,
        dropped={"between_windows": 1},
    ),
    # 3. Unclear build errors: what was passed and what to do.
    "merge-list": Refused(
        lambda: merge([just(1), just(2)]),
        TypeError,
        ("merge()", "pass the streams as separate arguments", "merge(*streams)"),
    ),
    "merge-none": Refused(lambda: merge(None), TypeError, ("merge()", EXPECTED_STREAM, "None")),
    "merge-agen": Refused(
        lambda: merge(just(1), agen()),
        TypeError,
        ("merge()", "argument 2", EXPECTED_STREAM, "async_generator", "from_iterable()"),
    ),
    "merge-operator": Refused(
        lambda: merge(map(str)), TypeError, ("merge()", EXPECTED_STREAM, "Operator", "stream | op")
    ),
    "concat-tuple": Refused(
        lambda: concat((just(1), just(2))),
        TypeError,
        ("concat()", "separate arguments", "concat(*streams)"),
    ),
    "concat-none": Refused(lambda: concat(None), TypeError, ("concat()", EXPECTED_STREAM, "None")),
    "concat-agen": Refused(
        lambda: concat(agen()), TypeError, ("concat()", EXPECTED_STREAM, "from_iterable()")
    ),
    "concat-operator": Refused(
        lambda: concat(just(1), map(str)), TypeError, ("concat()", "argument 2", "Operator")
    ),
    "zip-list": Refused(
        lambda: zip([just(1), just(2)]), TypeError, ("zip()", "separate arguments", "zip(*streams)")
    ),
    "zip-none": Refused(lambda: zip(None), TypeError, ("zip()", EXPECTED_STREAM, "None")),
    "zip-agen": Refused(
        lambda: zip(agen()), TypeError, ("zip()", EXPECTED_STREAM, "from_iterable")
    ),
    "zip-operator": Refused(lambda: zip(map(str)), TypeError, ("zip()", "Operator")),
    "zip_latest-list": Refused(
        lambda: zip_latest([just(1), just(2)]),
        TypeError,
        ("zip_latest()", "separate arguments", "zip_latest(*streams)"),
    ),
    "zip_latest-none": Refused(
        lambda: zip_latest(None), TypeError, ("zip_latest()", EXPECTED_STREAM, "None")
    ),
    "zip_latest-agen": Refused(
        lambda: zip_latest(agen()), TypeError, ("zip_latest()", EXPECTED_STREAM, "from_iterable")
    ),
    "zip_latest-operator": Refused(
        lambda: zip_latest(just(1), map(str)), TypeError, ("zip_latest()", "Operator")
    ),
    "from_acked-none": Refused(
        lambda: from_acked(None), TypeError, ("from_acked()", "items", "Acked(value, ack)", "None")
    ),
    "from_acked-plain-values": Refused(
        lambda: from_acked([1, 2]),
        TypeError,
        ("from_acked()", "Acked(value, ack)", "int 1", "index 0", "from_iterable()"),
    ),
    "from_acked-one-plain-value": Refused(
        lambda: from_acked([Acked(1, nothing), 2]), TypeError, ("from_acked()", "index 1")
    ),
    "from_iterable-stream": Refused(
        lambda: from_iterable(just(1)),
        TypeError,
        ("from_iterable()", "got a Stream", "it is already a stream: use it directly"),
    ),
    "from_iterable-none": Refused(
        lambda: from_iterable(None), TypeError, ("from_iterable()", "iterable", "None")
    ),
}


# Every row of this table checks its drops: a row that names none expects none.
CASES = {
    case_id: replace(case, dropped={}) if isinstance(case, Means) and case.dropped is None else case
    for case_id, case in CASES.items()
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_bad_input_case(case: Refused | Means) -> None:
    await check(case)


def test_every_case_names_its_operator() -> None:
    check_names(CASES)


async def test_hopping_windows_in_processing_time_count_the_gaps() -> None:
    faulthandler.dump_traceback_later(REAL_TIME_GUARD, exit=True)
    try:
        # Windows [0, 1), [2, 3), [4, 5): items at 1.5 and 3.5 fall in gaps.
        script = [at(0.5, "a"), at(1.5, "b"), at(2.5, "c"), at(3.5, "d"), at(4.5, end())]
        s = scripted(*script) | sliding_window(1, 2)
        with anyio.fail_after(VIRTUAL_TIMEOUT):
            windows = await s.collect()
        assert [w.items for w in windows] == [["a"], ["c"]]
        stats = s.stats()["sliding_window"]
        assert stats.dropped == {"between_windows": 2}
        assert sum(w.count for w in windows) + stats.dropped["between_windows"] == 4
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [
        (lambda p: p / "missing.txt", FileNotFoundError, "No such file"),
        (lambda p: p, IsADirectoryError, "Is a directory"),
    ],
    ids=["missing", "directory"],
)
async def test_from_lines_bad_path_is_one_line_with_path_and_reason(
    tmp_path: Path, make: Callable[[Path], Path], error: type[OSError], reason: str
) -> None:
    faulthandler.dump_traceback_later(REAL_TIME_GUARD, exit=True)
    try:
        path = make(tmp_path)
        s: Stream[str] = from_lines(path)  # still accepted at build time: checked per run
        with anyio.fail_after(VIRTUAL_TIMEOUT), pytest.raises(error) as info:
            await s.collect()
        message = str(info.value)
        assert message.startswith("from_lines(): "), message
        assert str(path) in message, message
        assert reason in message, message
        assert "\n" not in message
    finally:
        faulthandler.cancel_dump_traceback_later()
