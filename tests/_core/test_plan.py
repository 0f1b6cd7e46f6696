"""Planning: which hand-offs a chain of steps gets, and how neighbouring ones merge."""

from __future__ import annotations

from anystream import buffered, debounce, map, map_async, tumbling_window
from anystream._core.operator import Operator
from anystream._core.plan import Boundary, Stage, plan
from anystream.ops._map_async import HANDOFF_MIN
from anystream.ops._window.drivers import EMIT_HANDOFF, EVENT_TIME_BUFFER


async def _fn(x: int) -> int:
    return x


def _boundaries(op: Operator[int, object]) -> list[tuple[int, bool]]:
    """(capacity, explicit) of each boundary, in order."""
    return [
        (node.capacity, node.position is not None)
        for node in plan(op.steps)
        if isinstance(node, Boundary)
    ]


def test_a_plain_stage_has_direct_hand_offs_on_both_sides() -> None:
    assert _boundaries(map(str) | debounce(1.0) | map(str)) == [(0, False), (0, False)]


def test_an_event_time_window_has_room_for_a_batch_of_windows_after_it() -> None:
    # A watermark that passes many keys closes many windows at once: they leave in batches.
    assert _boundaries(map(float) | tumbling_window(1.0, time=float) | map(str)) == [
        (EVENT_TIME_BUFFER, True),
        (EMIT_HANDOFF, False),
    ]


def test_a_concurrent_stage_has_room_for_a_batch_on_each_side() -> None:
    # max(concurrency, HANDOFF_MIN) on each side: the hand-offs' size, not the
    # concurrency, sets how many task switches an item costs.
    assert _boundaries(map(str) | map_async(_fn, concurrency=8) | map(str)) == [
        (HANDOFF_MIN, False),
        (HANDOFF_MIN, False),
    ]
    wide = 2 * HANDOFF_MIN
    assert _boundaries(map(str) | map_async(_fn, concurrency=wide) | map(str)) == [
        (wide, False),
        (wide, False),
    ]


def test_an_explicit_buffer_replaces_the_implicit_hand_off_next_to_it() -> None:
    h = HANDOFF_MIN
    assert _boundaries(buffered(3) | map_async(_fn, concurrency=8)) == [(3, True), (h, False)]
    assert _boundaries(map_async(_fn, concurrency=8) | buffered(50)) == [(h, False), (50, True)]


def test_two_implicit_hand_offs_merge_into_the_larger_one() -> None:
    # The next stage's rendezvous must not take away map_async's room for a batch.
    op = map_async(_fn, concurrency=8) | debounce(1.0)
    assert _boundaries(op) == [(HANDOFF_MIN, False), (HANDOFF_MIN, False), (0, False)]
    nodes = plan(op.steps)
    assert sum(isinstance(node, Stage) for node in nodes) == 2
