"""The wiring of a run (streams, loops, tasks, resources) and the end-of-input signal."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anystream import Stream, buffered, from_iterable, map, map_async, take
from anystream._core.handoff import BoundaryReceive
from anystream._core.operator import GenStep, Operator
from anystream._core.plan import close_all, plan
from anystream._core.runner import Run
from anystream._core.shutdown import EndOfInput, StopState
from anystream._core.wiring import Wiring

pytestmark = pytest.mark.anyio


class Source:
    """An async generator source that records whether it started and how far it got."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0
        self.started = False
        self.gen: AsyncIterator[int] = self._gen()

    async def _gen(self) -> AsyncIterator[int]:
        self.started = True
        for i in range(self.n):
            self.pulled += 1
            yield i

    def stream(self) -> Stream[int]:
        return from_iterable(self.gen)


async def _double(x: int) -> int:
    await anyio.lowlevel.checkpoint()
    return 2 * x


def _wire(stream: Stream[Any]) -> Wiring:
    run: Run[Any] = stream.stream()
    wiring = Wiring(stream._source, run.stats(), StopState(), None)
    wiring.tasks_for(plan(stream._steps), timing=False, clock=None)
    return wiring


async def _discard(wiring: Wiring) -> None:
    """Close what a wiring made without running it (a test never starts its tasks)."""
    for task in wiring.tasks:
        assert inspect.iscoroutine(task.work)  # made, never started
        task.work.close()
    for end in wiring.streams:
        end.close()
    await close_all(wiring.closables)


async def test_wiring_builds_the_tasks_and_links_and_runs_nothing() -> None:
    src = Source(5)
    stream = src.stream() | map(lambda x: x + 1) | map_async(_double, concurrency=2) | map(str)
    wiring = _wire(stream)
    segment, stage = wiring.tasks
    assert (segment.name, stage.name) == ("anystream segment", "anystream map_async(_double)")
    # The source's segment: in band (its failure travels behind its items), in the
    # source's cancel scope, reading the source itself.
    assert segment.in_band
    assert segment.scope is wiring.source_scope is not None
    assert segment.upstream is None
    assert src.gen in segment.closables
    # The stage reads the segment's output and fails the run at once.
    assert not stage.in_band
    assert stage.scope is None
    assert stage.upstream is segment.end
    # Two links (both sides each), the consumer's loop still to be built.
    assert len(wiring.streams) == 4
    assert wiring.final is not None
    assert wiring.final_upstream is stage.end
    assert wiring.final_closables == []
    # Nothing ran: the source was never asked for an item.
    assert not src.started
    assert src.pulled == 0
    await _discard(wiring)


async def test_only_the_link_the_consumer_reads_carries_the_end_of_input_signal() -> None:
    wiring = _wire(Source(3).stream() | buffered(2) | map_async(_double, concurrency=2))
    ends = [task.end for task in wiring.tasks]
    assert all(isinstance(end, BoundaryReceive) for end in ends)
    assert [end.end_of_input for end in ends if end is not None] == [
        None,
        wiring.end_of_input,
    ]
    assert not wiring.end_of_input.reached
    await _discard(wiring)


def test_end_of_input_starts_unset_and_is_set_once() -> None:
    signal = EndOfInput()
    assert not signal.reached
    signal.set()
    signal.set()
    assert signal.reached


async def test_a_run_that_reads_to_the_end_has_reached_the_end_of_input() -> None:
    async with (Source(10).stream() | buffered(3) | map(lambda x: x * 3)).stream() as run:
        assert await run._collect() == [3 * x for x in range(10)]
        assert run._wiring is not None
        assert run._wiring.end_of_input.reached


async def test_iterating_to_the_end_reaches_the_end_of_input() -> None:
    async with (Source(4).stream() | map_async(_double, concurrency=2)).stream() as run:
        assert [x async for x in run] == [0, 2, 4, 6]
        assert run._wiring is not None
        assert run._wiring.end_of_input.reached


async def test_a_take_in_the_consumers_loop_is_not_the_end_of_input() -> None:
    # The take ends the consumer's loop while the upstream is still producing.
    src = Source(1000)
    async with (src.stream() | buffered(4) | take(3)).stream() as run:
        assert await run._collect() == [0, 1, 2]
        assert run._wiring is not None
        assert not run._wiring.end_of_input.reached
    assert src.pulled < 1000


async def test_leaving_after_the_last_item_without_the_end_is_leaving_early() -> None:
    # Every item was delivered and the upstream has ended, but the consumer never asked
    # for the end: the run cannot know there was nothing more, so it was left early.
    async with (Source(3).stream() | buffered(4)).stream() as run:
        items = aiter(run)
        assert [await anext(items) for _ in range(3)] == [0, 1, 2]
        await anyio.sleep(0.1)  # the source's task has closed its output by now
        assert run._wiring is not None
        assert not run._wiring.end_of_input.reached
        assert run._wiring.final_upstream is not None
        assert run._wiring.final_upstream.statistics().open_send_streams == 0


async def test_a_wiring_that_fails_half_way_closes_what_it_made() -> None:
    # The generator operator's factory raises while the run is wired, after the source
    # was opened: the error comes back as itself and the source is closed.
    def make(upstream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        raise LookupError("no such step")

    src = Source(5)
    failing: Operator[int, int] = Operator((GenStep("failing", make),))
    with pytest.raises(LookupError, match="no such step"):
        async with (src.stream() | failing | buffered(2)).stream():
            pytest.fail("the run must not start")
    assert not src.started
    assert src.gen.ag_frame is None  # type: ignore[attr-defined]  # closed
