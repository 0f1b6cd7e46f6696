"""A staged operator's task is a frozen dataclass whose repr shows its configuration.

``step.run`` used to be a ``functools.partial`` whose repr showed a function and the
default reprs of its arguments; now it is a small value (``_core/staged.py``). These
tests pin the repr of each one, that it is immutable and slotted, that the variant
for acknowledged sources is the same value with ``tracked=True``, and that the task
still runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import pytest

import anystream as a
from anystream._core.operator import StagedStep
from anystream._core.staged import StageTask

pytestmark = pytest.mark.anyio


def key_of(item: Any) -> Any:
    return item


async def echo(item: Any) -> Any:
    return item


def double(item: int) -> int:
    return 2 * item


CASES: list[tuple[Callable[[], a.Operator[Any, Any]], str]] = [
    (lambda: a.debounce(0.5), "Debounce(period=0.5)"),
    (
        lambda: a.throttle(2, trailing=True),
        "Throttle(period=2.0, leading=True, trailing=True)",
    ),
    (lambda: a.sample(0.25), "Sample(period=0.25)"),
    (
        lambda: a.timeout(1, first=3),
        "Timeout(each=1.0, first=3.0, fallback=None, name='timeout(1, first=3)')",
    ),
    (lambda: a.delay(0.1, max_pending=7), "Delay(period=0.1, max_pending=7)"),
    (lambda: a.rate_limit(3, 1), "RateLimit(n=3, per=1.0)"),
    (lambda: a.chunks(2, step=5), "ChunksByStep(n=2, step=5)"),
    (lambda: a.chunks(4, timeout=1.5), "TimedChunks(n=4, max_age=1.5)"),
    (
        lambda: a.tumbling_window(5),
        "ProcessingTimeWindows(name='tumbling_window(5)', cfg=Config())",
    ),
    (
        lambda: a.sliding_window(5, 1, key=key_of),
        "ProcessingTimeWindows(name='sliding_window(5, 1)', cfg=Config(key=key_of))",
    ),
    (
        lambda: a.tumbling_window(5, time=key_of, allowed_lateness=2),
        "EventTimeWindows(name='tumbling_window(5)', cfg=Config(time=key_of, lateness=2))",
    ),
    (
        lambda: a.map_async(echo, concurrency=4, ordered=False),
        "MapAsync(fn=echo, concurrency=4, ordered=False, retry=None, on_error='raise', "
        "name='map_async(echo)')",
    ),
    (
        lambda: a.map(double, on_error="drop"),
        "MapAsync(fn=map.<locals>.call, concurrency=1, ordered=True, retry=None, "
        "on_error='drop', name='map(double)')",
    ),
    (
        lambda: a.map_thread(double, workers=3),
        "PooledCalls(workers=3, ordered=True, name='map_thread(double)')",
    ),
    (
        lambda: a.map_process(abs, workers=2, ordered=False),
        "ProcessStage(fn=abs, workers=2, ordered=False, kill_on_cancel=False, "
        "name='map_process(abs)')",
    ),
]


def _task(op: a.Operator[Any, Any]) -> StagedStep:
    (step,) = op.steps
    assert isinstance(step, StagedStep)
    assert isinstance(step.run, StageTask)
    return step


@pytest.mark.parametrize(("make", "expected"), CASES, ids=[text for _, text in CASES])
def test_repr_shows_the_configuration(
    make: Callable[[], a.Operator[Any, Any]], expected: str
) -> None:
    assert repr(_task(make()).run) == expected


@pytest.mark.parametrize(("make", "expected"), CASES, ids=[text for _, text in CASES])
def test_tasks_are_frozen_slotted_values(
    make: Callable[[], a.Operator[Any, Any]], expected: str
) -> None:
    run: Any = _task(make()).run
    assert dataclasses.is_dataclass(run)
    assert not hasattr(run, "__dict__")
    first = dataclasses.fields(run)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(run, first, None)
    # A copy is an equal value (the field values are the same objects).
    assert dataclasses.replace(cast(Any, run)) == run


def test_the_tracked_variant_is_the_same_value_with_tracked_true() -> None:
    step = _task(a.map_async(echo, concurrency=2))
    run: Any = step.run
    assert step.tracked == dataclasses.replace(run, tracked=True)
    assert repr(step.tracked).endswith(", tracked=True)")
    assert _task(a.sliding_window(5, 1)).tracked is None  # not trackable


def test_a_long_fallback_is_cut_short() -> None:
    text = repr(_task(a.timeout(1, fallback=list(range(1000)))).run)
    assert "fallback=[0, 1, 2, 3" in text
    assert "999" not in text
    assert text.endswith("..., name='timeout(1, fallback)')")


async def test_the_tasks_still_run() -> None:
    got = await (
        a.from_iterable(range(6))
        | a.map_async(echo, concurrency=2)
        | a.map(double, on_error="drop")
        | a.rate_limit(100, 1)
        | a.chunks(2, step=3)
    ).collect()
    assert got == [[0, 2], [6, 8]]
