"""Planning: which hand-offs a chain of steps gets, and how neighbouring ones merge."""

from __future__ import annotations

from anystream import buffered, map, map_async, tumbling_window
from anystream._core.operator import Operator
from anystream._core.plan import Boundary, Stage, plan


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
    assert _boundaries(map(str) | tumbling_window(1.0) | map(str)) == [(0, False), (0, False)]


def test_a_concurrent_stage_has_room_for_one_item_per_worker_on_each_side() -> None:
    assert _boundaries(map(str) | map_async(_fn, concurrency=8) | map(str)) == [
        (8, False),
        (8, False),
    ]


def test_an_explicit_buffer_replaces_the_implicit_hand_off_next_to_it() -> None:
    assert _boundaries(buffered(3) | map_async(_fn, concurrency=8)) == [(3, True), (8, False)]
    assert _boundaries(map_async(_fn, concurrency=8) | buffered(50)) == [(8, False), (50, True)]


def test_two_implicit_hand_offs_merge_into_the_larger_one() -> None:
    # The window's rendezvous must not take away map_async's room for a batch.
    op = map_async(_fn, concurrency=8) | tumbling_window(1.0)
    assert _boundaries(op) == [(8, False), (8, False), (0, False)]
    nodes = plan(op.steps)
    assert sum(isinstance(node, Stage) for node in nodes) == 2
