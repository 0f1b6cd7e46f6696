"""More delay and take_until cases against RxJS ``delay-spec.ts`` and ``takeUntil-spec.ts``;
frames of 1 s on the virtual clock, both backends (see test_time_ops.py for the rest)."""

from __future__ import annotations

import anyio
import pytest

from anystream import delay, take_until

from ._marble import apply, expect, src

pytestmark = pytest.mark.anyio

DELAY = [
    # rxjs delay-spec "should delay when source emits simultaneous values" (our shape):
    # both items are shifted together and keep their order
    ("-(ab)--------|", 2, "---(ab)------|"),
    # completion while an item is pending: the end waits for the delayed item
    ("-a|", 3, "----(a|)"),
    # ... and several pending items all come out before the end
    ("ab|", 4, "----a(b|)"),
    # "should raise error when source raises error" while an item is pending: the error is
    # not delayed and the pending item never comes
    ("-a-#", 3, "---#"),
    # "should delay by specified timeframe" with uneven gaps: the gaps are kept
    ("a-b---c|", 2, "--a-b---(c|)"),
    # "should delay when source does not emit" / never with items: no end
    ("-a-b-", 2, "---a-b"),
]


@pytest.mark.parametrize(("given", "period", "expected"), DELAY)
async def test_delay_more(given: str, period: float, expected: str) -> None:
    assert await apply(given, delay(period), until=60) == expect(expected)


TAKE_UNTIL = [
    # a tie: the trigger fires in the same frame as an item; the trigger wins (take_until's
    # docstring: "the trigger wins"), as in RxJS where the notifier is subscribed first
    ("-a-b-c-|", "---z", "-a-|"),
    # "should complete when notifier emits at the same time as the source completes"-like
    ("-a-b|", "----z", "-a-b|"),
    # "should take values until notifier emits" with several notifier items: only the
    # first matters
    ("-a-b-c-d-|", "-----zzz", "-a-b-|"),
    # a trigger that emits at once, before any item: nothing
    ("-a-b|", "z", "|"),
]


@pytest.mark.parametrize(("given", "trigger", "expected"), TAKE_UNTIL)
async def test_take_until_more(given: str, trigger: str, expected: str) -> None:
    assert await apply(given, take_until(src(trigger)), until=40) == expect(expected)


async def test_take_until_set_event() -> None:
    # take_until's docstring: an Event already set emits nothing
    event = anyio.Event()
    event.set()
    assert await apply("-a-b|", take_until(event), until=40) == expect("|")
