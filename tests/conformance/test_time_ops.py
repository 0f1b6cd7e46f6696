"""Time-based operators against RxJS marble specs (throttleTime, debounceTime, sampleTime,
delay, timeout) and aiostream's ``test_time.py``; frames are 1 s of virtual time.

RxJS's marble frames are 10 time units (RxJS 5/6 specs) or 1 ms (RxJS 7 specs); the
periods below are the spec's period divided by the frame, so each case keeps its shape.
"""

from __future__ import annotations

import pytest

from anystream import debounce, delay, sample, throttle

from ._marble import apply, expect

pytestmark = pytest.mark.anyio

THROTTLE = [
    # rxjs throttleTime-spec "should immediately emit the first value in each time window"
    ("-a-x-y----b---x-cx---|", {"period": 5}, "-a--------b-----c----|"),
    # "should simply mirror the source if values are not emitted often enough"
    ("-a--------b-----c----|", {"period": 5}, "-a--------b-----c----|"),
    # "should handle a busy producer emitting a regular repeating sequence": the item at the
    # exact end of a period (f at 5) belongs to that period and is dropped.
    ("abcdefabcdefabcdefabcdefa|", {"period": 5}, "a-----a-----a-----a-----a|"),
    # "should complete when source does not emit"
    ("-----|", {"period": 5}, "-----|"),
    # "should raise error when source does not emit and raises error"
    ("-----#", {"period": 1}, "-----#"),
    # "should handle an empty source"
    ("|", {"period": 3}, "|"),
    # "should handle a throw source"
    ("#", {"period": 3}, "#"),
    # "should throttle values until source raises error"
    ("-a--(bc)-------d---------------#", {"period": 5}, "-a-------------d---------------#"),
    # "{ leading: true, trailing: true }: should immediately emit the first and last values
    # in each time window": a trailing emission starts a new window (RxJS 7).
    ("-a-xy-----b--x--cxxx--|", {"period": 4, "trailing": True}, "-a---y----b---x---x---(x|)"),
    # "... should emit the value if only a single one is given"
    ("-a--------------------|", {"period": 4, "trailing": True}, "-a--------------------|"),
    # "{ leading: false, trailing: true }: should immediately emit the last value in each
    # time window"
    (
        "-a-xy-----b--x--cxxx--|",
        {"period": 4, "leading": False, "trailing": True},
        "-----y--------x---x---(x|)",
    ),
    # "... should emit the last throttled value when complete": x at 18 ends its window as
    # its trailing item; the completion at 20 adds nothing.
    (
        "-a-xy-----b--x--cxx-|",
        {"period": 4, "leading": False, "trailing": True},
        "-----y--------x---x-|",
    ),
    # "... should emit the value if only a single one is given"
    (
        "-a--------------------|",
        {"period": 4, "leading": False, "trailing": True},
        "-----a----------------|",
    ),
    # rxjs 7 throttleTime-spec "should emit the last throttled value when complete" (trailing):
    # the pending trailing item is emitted when its period ends, then the stream completes.
    ("-a-xy|", {"period": 4, "trailing": True}, "-a---(y|)"),
    # ... and with nothing pending, completion is immediate (no extra item).
    ("-a---|", {"period": 2, "trailing": True}, "-a---|"),
    # A tie at the period end with trailing: the tie item is the trailing item.
    ("a-b---|", {"period": 2, "trailing": True}, "a-b---|"),
    ("a-bc----|", {"period": 2, "trailing": True}, "a-b-c---|"),
    # rxjs "should handle a never source" with a bounded recording.
    ("-", {"period": 3}, ""),
    # the never-ending throttled source: nothing after d (rxjs "does not complete when source
    # does not complete").
    ("-a--(bc)-------d-------", {"period": 5}, "-a-------------d"),
]


@pytest.mark.parametrize(("given", "kwargs", "expected"), THROTTLE)
async def test_throttle(given: str, kwargs: dict[str, object], expected: str) -> None:
    assert await apply(given, throttle(**kwargs), until=60) == expect(expected)  # type: ignore[arg-type]


DEBOUNCE = [
    # rxjs debounceTime-spec "should debounce values by 2 time units"
    ("-a--bc--d---|", 2, "---a---c--d-|"),
    # "should delay all elements by the specified time": c is flushed at completion
    ("-a--------b------c----|", 5, "------a--------b------(c|)"),
    # "should debounce and delay element by the specified time"
    ("-a--(bc)-----------d-------|", 5, "---------c--------------d--|"),
    # "should complete when source does not emit"
    ("-----|", 1, "-----|"),
    # "should complete when source is empty"
    ("|", 1, "|"),
    # "should raise error when source does not emit and raises error"
    ("-----#", 1, "-----#"),
    # "should raise error when source throws"
    ("#", 1, "#"),
    # "should debounce and does not complete when source does not completes"
    ("-a--(bc)-----------d-------", 5, "---------c--------------d--"),
    # "should not completes when source does not completes"
    ("-", 1, ""),
    # "should delay all elements until source raises error": c is lost at the error
    ("-a--------b------c----#", 5, "------a--------b------#"),
    # "should debounce all elements while source emits within given time"
    ("--a--b--c--d--e--f--g--h-|", 4, "-------------------------(h|)"),
    # "... until raises error"
    ("--a--b--c--d--e--f--g--h-#", 4, "-------------------------#"),
    # A tie: b arrives exactly when a's quiet window ends; as in RxJS the input comes first,
    # so b supersedes a.
    ("a-b----|", 2, "----b--|"),
    ("a--b-c--|", 3, "--------(c|)"),
]


@pytest.mark.parametrize(("given", "period", "expected"), DEBOUNCE)
async def test_debounce(given: str, period: float, expected: str) -> None:
    assert await apply(given, debounce(period), until=60) == expect(expected)


SAMPLE = [
    # rxjs sampleTime-spec "should get samples on a delay" (period 11 -> 1.1 frames avoided:
    # use the integer-period cases): "should sample nothing if source has not nexted at all"
    ("--------|", 3, "--------|"),
    # "should sample if source has nexted" with a period of 3 frames
    ("-a-b-c-d-e-|", 3, "---b--c--e-|"),
    # "should not complete when source does not complete"
    ("-a-b----", 3, "---b"),
    # "should raise error if source raises error"
    ("-a-b#", 3, "---b#"),
    # "should handle empty" / "should handle throw"
    ("|", 3, "|"),
    ("#", 3, "#"),
    # an item pending at completion is not emitted (rxjs sampleTime drops it)
    ("-a|", 3, "--|"),
    # an item arriving exactly on a tick is sampled at that tick
    ("---a--|", 3, "---a--|"),
]


@pytest.mark.parametrize(("given", "period", "expected"), SAMPLE)
async def test_sample(given: str, period: float, expected: str) -> None:
    assert await apply(given, sample(period), until=60) == expect(expected)


DELAY = [
    # rxjs delay-spec "should delay by specified timeframe"
    ("---a--b--|", 3, "------a--(b|)"),
    # "should not delay at all if the delay number is zero" (virtual clock: same frame)
    ("--a--b--|", 0, "--a--b--|"),
    # "should raise error when source raises error": the error is not delayed
    ("---a---#", 3, "------a#"),
    # "should handle empty" / "should handle throw"
    ("|", 3, "|"),
    ("#", 3, "#"),
    # "should delay when source does not emits": completion is not delayed
    ("----|", 3, "----|"),
    # a never source
    ("-", 3, ""),
]


@pytest.mark.parametrize(("given", "period", "expected"), DELAY)
async def test_delay(given: str, period: float, expected: str) -> None:
    assert await apply(given, delay(period), until=60) == expect(expected)
