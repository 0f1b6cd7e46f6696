"""Tests for the combine family: merge, zip, concat, zip_latest and their pipeable forms.

Every async test runs on asyncio and trio on a virtual clock; times are exact, relative
to ``anyio.current_time()`` at the start of the test.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream import (
    Stream,
    buffered,
    concat,
    concat_with,
    empty,
    from_iterable,
    interval,
    just,
    merge,
    merge_with,
    never,
    range,
    take,
    timer,
    zip,
    zip_latest,
    zip_with,
)
from anystream import map as map_
from anystream._core.operator import StageContext, StagedStep
from anystream._core.stats import OpStats, StageCounts
from anystream.ops.combine import INPUT_BUFFER
from anystream.testing import ScriptedSource, at, hang, raise_

pytestmark = pytest.mark.anyio

NOTE = "anystream: raised in operator "


async def timed(stream: Stream[Any]) -> list[tuple[float, Any]]:
    start = anyio.current_time()
    out = []
    async with stream.stream() as items:
        async for item in items:
            out.append((round(anyio.current_time() - start, 9), item))
    return out


class Pulls:
    """A counting endless source: how many items each input handed out, and its finally."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.pulled = 0
        self.closed = 0

    async def _gen(self) -> AsyncIterator[str]:
        try:
            while True:
                self.pulled += 1
                yield f"{self.label}{self.pulled}"
                await anyio.sleep(0.01)  # lets virtual time move
        finally:
            self.closed += 1

    def stream(self) -> Stream[str]:
        return from_iterable(_Reiterable(self._gen))


class _Reiterable:
    def __init__(self, make: Callable[[], AsyncIterator[Any]]) -> None:
        self._make = make

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._make()


# -- merge -------------------------------------------------------------------------------------


async def test_merge_interleaves_by_arrival_time() -> None:
    a = ScriptedSource(at(1, "a1"), at(4, "a2"), at(7, "a3"))
    b = ScriptedSource(at(2, "b1"), at(3, "b2"))
    got = await timed(merge(a.as_stream(), b.as_stream()))
    assert got == [(1, "a1"), (2, "b1"), (3, "b2"), (4, "a2"), (7, "a3")]
    assert a.closed == b.closed == 1


async def test_merge_keeps_each_input_order_and_loses_nothing() -> None:
    s = merge(range(500), range(1000, 1300), empty(), just("x"))
    got = await s.collect()
    assert sorted(got, key=str) == sorted(
        [*builtins.range(500), *builtins.range(1000, 1300), "x"], key=str
    )
    assert [x for x in got if isinstance(x, int) and x < 1000] == list(builtins.range(500))
    assert [x for x in got if isinstance(x, int) and x >= 1000] == list(builtins.range(1000, 1300))
    assert len(await s.collect()) == len(got)  # re-runnable


async def test_merge_of_nothing_and_of_one() -> None:
    assert await merge().collect() == []
    assert await merge(range(3)).collect() == [0, 1, 2]


async def test_merge_with_staged_inputs_and_downstream_ops() -> None:
    s = merge(range(100) | buffered(5) | map_(lambda x: x * 2), range(3)) | map_(str)
    got = await s.collect()
    assert len(got) == 103
    assert [int(x) for x in got if int(x) % 2 == 0 and int(x) > 2][:3] == [4, 6, 8]


async def test_merge_error_propagates_as_itself_and_closes_the_others() -> None:
    ok = ScriptedSource(at(1, 1), hang())
    bad = ScriptedSource(at(2, 2), at(3, raise_(ValueError("boom"))))
    start = anyio.current_time()
    with pytest.raises(ValueError, match="boom") as info:
        await merge(ok.as_stream(), bad.as_stream()).collect()
    assert anyio.current_time() - start == 3
    assert f"{NOTE}merge(2), input 2" in info.value.__notes__
    assert ok.closed == bad.closed == 1


async def test_merge_error_of_an_inner_operator_keeps_its_note() -> None:
    def explode(x: int) -> int:
        raise KeyError(x)

    with pytest.raises(KeyError) as info:
        await merge(range(3), range(3) | map_(explode)).collect()
    notes = info.value.__notes__
    assert any("map(" in n and "explode" in n for n in notes)
    assert f"{NOTE}merge(2), input 2" in notes


async def test_merge_early_exit_closes_every_input() -> None:
    a, b, c = Pulls("a"), Pulls("b"), Pulls("c")
    got = await (merge(a.stream(), b.stream(), c.stream()) | take(3)).collect()
    assert len(got) == 3
    assert (a.closed, b.closed, c.closed) == (1, 1, 1)


async def test_merge_break_closes_every_input() -> None:
    a, b = Pulls("a"), Pulls("b")
    async with merge(a.stream(), b.stream(), never()).stream() as items:
        async for _ in items:
            break
    assert (a.closed, b.closed) == (1, 1)


async def test_merge_cancellation_closes_every_input() -> None:
    a = ScriptedSource(at(1, 1), hang())
    b = ScriptedSource(hang())
    start = anyio.current_time()
    with anyio.move_on_after(5):
        await merge(a.as_stream(), b.as_stream(), never()).collect()
    assert anyio.current_time() - start == 5
    assert a.closed == b.closed == 1


async def test_merge_backpressure_bounds_what_each_input_pulls() -> None:
    a, b = Pulls("a"), Pulls("b")
    consumed = 0
    async with merge(a.stream(), b.stream()).stream() as items:
        async for _ in items:
            consumed += 1
            await anyio.sleep(1)  # a slow consumer
            # Each input holds at most its INPUT_BUFFER plus two items (its own source
            # task, its forwarder), plus one in the hop between the merge and the
            # consumer, plus the one the consumer holds (counted in consumed).
            assert a.pulled + b.pulled <= consumed + 2 * (INPUT_BUFFER + 2) + 1
            if consumed == 50:
                break
    assert a.pulled >= 20
    assert b.pulled >= 20  # both inputs are served, not only the first


async def test_merge_graceful_stop_drains_what_was_pulled() -> None:
    fast = Pulls("f")
    s = merge(fast.stream() | buffered(10), interval(1.0)) | buffered(0)
    got: list[Any] = []
    start = anyio.current_time()
    async with s.stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(2.5)
            run.stop()

        tg.start_soon(stopper)
        async for item in run:
            got.append(item)
            await anyio.sleep(0.25)
    # Everything the fast input pulled reached the consumer (nothing lost in buffers).
    assert len([x for x in got if isinstance(x, str)]) == fast.pulled
    assert fast.closed == 1
    ticks = [x for x in got if isinstance(x, int)]
    assert ticks == list(builtins.range(len(ticks)))
    # After the stop at 2.5 s only what was in flight drains, at 0.25 s per item: the 10
    # buffered items plus about one per hop (inner run, forwarders, merge, buffered(0)).
    assert anyio.current_time() - start <= 2.5 + 16 * 0.25


async def test_merge_graceful_stop_of_idle_inputs_is_prompt() -> None:
    s = merge(never(), ScriptedSource(at(1, "x"), hang()).as_stream())
    start = anyio.current_time()
    got = []
    async with s.stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(2)
            run.stop()

        tg.start_soon(stopper)
        async for item in run:
            got.append(item)
    assert got == ["x"]
    assert 2 <= anyio.current_time() - start <= 2 + 1e-9


async def test_merge_with_pipeable() -> None:
    a = ScriptedSource(at(1, "a1"), at(3, "a2"))
    b = ScriptedSource(at(2, "b1"), at(4, "b2"))
    s = a.as_stream() | merge_with(b.as_stream()) | map_(str.upper)
    assert await timed(s) == [(1, "A1"), (2, "B1"), (3, "A2"), (4, "B2")]
    stats = s.stats()["merge_with(1)"]
    assert (stats.received, stats.emitted) == (2, 4)


async def test_merge_with_error_and_early_exit() -> None:
    a = Pulls("a")
    b = ScriptedSource(at(1, raise_(RuntimeError("inner"))))
    with pytest.raises(RuntimeError, match="inner") as info:
        await (a.stream() | merge_with(b.as_stream())).collect()
    assert f"{NOTE}merge_with(1), input 2" in info.value.__notes__
    assert a.closed == 1
    a2, c = Pulls("a"), Pulls("c")
    assert len(await (a2.stream() | merge_with(c.stream()) | take(5)).collect()) == 5
    assert a2.closed == c.closed == 1


# -- concat ------------------------------------------------------------------------------------


async def test_concat_runs_one_after_the_other() -> None:
    a = ScriptedSource(at(1, 1), at(2, 2))
    b = ScriptedSource(at(1, 3))  # timed from its own start, i.e. from when a ended
    got = await timed(concat(a.as_stream(), empty(), b.as_stream(), just(4)))
    assert got == [(1, 1), (2, 2), (3, 3), (3, 4)]
    assert await concat().collect() == []
    assert await concat(range(2), range(2)).collect() == [0, 1, 0, 1]


async def test_concat_error_and_early_exit() -> None:
    later = ScriptedSource(at(1, "never reached"))
    bad = ScriptedSource(1, raise_(ValueError("bad")))
    with pytest.raises(ValueError, match="bad") as info:
        await concat(range(2), bad.as_stream(), later.as_stream()).collect()
    assert f"{NOTE}concat(3), input 2" in info.value.__notes__
    assert later.opened == 0
    a, b = Pulls("a"), Pulls("b")
    assert await (concat(a.stream(), b.stream()) | take(2)).collect() == ["a1", "a2"]
    assert a.closed == 1
    assert b.pulled == 0


async def test_concat_stop_starts_no_further_input() -> None:
    second = ScriptedSource(at(1, "second"))
    s = concat(interval(1) | take(100), second.as_stream())
    got = []
    async with s.stream() as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(3.5)
            run.stop()

        tg.start_soon(stopper)
        async for item in run:
            got.append(item)
    assert got == [0, 1, 2]
    assert second.opened == 0


async def test_concat_with_pipeable() -> None:
    s = range(3) | concat_with(just("a"), range(2)) | map_(str)
    assert await s.collect() == ["0", "1", "2", "a", "0", "1"]
    stats = s.stats()["concat_with(2)"]
    assert (stats.received, stats.emitted) == (3, 6)


# -- zip ---------------------------------------------------------------------------------------


async def test_zip_pairs_and_ends_with_the_shortest() -> None:
    long_one = ScriptedSource(*builtins.range(10))
    got = await zip(range(3), long_one.as_stream(), just("a", "b", "c", "d")).collect()
    assert got == [(0, 0, "a"), (1, 1, "b"), (2, 2, "c")]
    assert long_one.closed == 1
    assert await zip().collect() == []
    assert await zip(range(2)).collect() == [(0,), (1,)]
    assert await zip(range(3), empty()).collect() == []


async def test_zip_runs_inputs_concurrently() -> None:
    a = ScriptedSource(at(1, "a1"), at(2, "a2"))
    b = ScriptedSource(at(1, "b1"), at(2, "b2"))
    # Concurrent pulls: each tuple at max(...) of its items' times, not their sum.
    assert await timed(zip(a.as_stream(), b.as_stream())) == [(1, ("a1", "b1")), (2, ("a2", "b2"))]


async def test_zip_strict() -> None:
    assert await zip(range(3), range(3), strict=True).collect() == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(ValueError, match=r"input 2 is shorter than input 1 \(it ended after 2"):
        await zip(range(5), range(2), strict=True).collect()
    with pytest.raises(ValueError, match=r"input 3 is longer than input 1 .*ended after 2 items"):
        await zip(range(2), range(2), range(3), strict=True).collect()
    with pytest.raises(ValueError, match="input 3 is shorter than input 1-2"):
        await zip(range(5), range(5), range(1), strict=True).collect()
    # Like builtins.zip: the tuples before the mismatch were emitted.
    got: list[Any] = []
    with pytest.raises(ValueError, match="shorter"):
        async with zip(range(5), range(2), strict=True).stream() as items:
            async for row in items:
                got.append(row)
    assert got == [(0, 0), (1, 1)]


async def test_zip_error_and_early_exit_close_everything() -> None:
    ok = ScriptedSource(*builtins.range(100))
    bad = ScriptedSource(1, 2, raise_(OSError("disk")))
    with pytest.raises(OSError, match="disk") as info:
        await zip(ok.as_stream(), bad.as_stream()).collect()
    assert f"{NOTE}zip, input 2" in info.value.__notes__
    assert ok.closed == 1
    a, b = Pulls("a"), Pulls("b")
    assert await (zip(a.stream(), b.stream()) | take(2)).collect() == [("a1", "b1"), ("a2", "b2")]
    assert a.closed == b.closed == 1
    assert a.pulled <= INPUT_BUFFER + 5


async def test_zip_backpressure() -> None:
    a, b = Pulls("a"), Pulls("b")
    consumed = 0
    async with zip(a.stream(), b.stream()).stream() as items:
        async for _ in items:
            consumed += 1
            await anyio.sleep(1)
            # buffer + source task + feeder + zip's assembling hand + the hop downstream
            assert a.pulled <= consumed + INPUT_BUFFER + 4
            assert b.pulled <= consumed + INPUT_BUFFER + 4
            if consumed == 20:
                break


async def test_zip_with_pipeable() -> None:
    s = range(4) | zip_with(just("a", "b", "c"))
    assert await s.collect() == [(0, "a"), (1, "b"), (2, "c")]
    assert await (range(2) | zip_with(range(5), range(3))).collect() == [(0, 0, 0), (1, 1, 1)]
    with pytest.raises(ValueError, match="input 2 is longer than input 1"):
        await (range(2) | zip_with(range(3), strict=True)).collect()
    with pytest.raises(ValueError, match="input 2 is shorter"):
        await (range(3) | zip_with(range(2), strict=True)).collect()


# -- zip_latest --------------------------------------------------------------------------------


async def test_zip_latest_partial() -> None:
    a = ScriptedSource(at(1, 1), at(7, 2))
    b = ScriptedSource(at(3, "x"), at(5, "y"))
    got = await timed(zip_latest(a.as_stream(), b.as_stream()))
    assert got == [(1, (1, None)), (3, (1, "x")), (5, (1, "y")), (7, (2, "y"))]


async def test_zip_latest_waits_for_all_without_partial() -> None:
    a = ScriptedSource(at(1, 1), at(7, 2))
    b = ScriptedSource(at(3, "x"), at(5, "y"))
    got = await timed(zip_latest(a.as_stream(), b.as_stream(), partial=False))
    assert got == [(3, (1, "x")), (5, (1, "y")), (7, (2, "y"))]


async def test_zip_latest_ends_when_an_input_ends_empty_without_partial() -> None:
    a = ScriptedSource(at(1, 1), hang())
    start = anyio.current_time()
    assert await zip_latest(a.as_stream(), timer(2) | take(0), partial=False).collect() == []
    assert anyio.current_time() - start == 0
    assert a.closed == 1
    # With partial=True the empty input just stays None and the result runs on.
    got = await timed(zip_latest(interval(1) | take(2), empty()))
    assert got == [(1, (0, None)), (2, (1, None))]


async def test_zip_latest_with_interval_and_errors() -> None:
    got = await timed(zip_latest(interval(2) | take(2), interval(3) | take(2)))
    assert got == [(2, (0, None)), (3, (0, 0)), (4, (1, 0)), (6, (1, 1))]
    bad = ScriptedSource(at(1, 1), at(2, raise_(ValueError("z"))))
    other = ScriptedSource(hang())
    with pytest.raises(ValueError, match="z") as info:
        await zip_latest(other.as_stream(), bad.as_stream()).collect()
    assert f"{NOTE}zip_latest, input 2" in info.value.__notes__
    assert other.closed == 1


async def test_zip_latest_early_exit() -> None:
    a, b = Pulls("a"), Pulls("b")
    assert len(await (zip_latest(a.stream(), b.stream()) | take(4)).collect()) == 4
    assert a.closed == b.closed == 1


# -- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "exc", "match"),
    [
        (
            lambda: merge(range(1), [1, 2]),
            TypeError,
            "merge\\(\\): argument 2 must be a Stream.*from_iterable",
        ),
        (lambda: zip(3), TypeError, "zip\\(\\): argument 1 must be a Stream"),
        (lambda: concat(range(1), None), TypeError, "concat\\(\\): argument 2"),
        (lambda: zip_latest(range(1), "ab"), TypeError, "zip_latest\\(\\): argument 2"),
        (lambda: zip(range(1), strict=1), TypeError, "strict must be True or False"),
        (lambda: zip_latest(range(1), partial=None), TypeError, "partial must be True or False"),
        (lambda: merge_with([1]), TypeError, "merge_with\\(\\): argument 1"),
        (lambda: zip_with(range(1), strict="yes"), TypeError, "strict"),
        (lambda: concat_with(1), TypeError, "concat_with\\(\\): argument 1"),
    ],
)
def test_bad_arguments_name_the_argument(
    build: Callable[[], object], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        build()


# -- properties ----------------------------------------------------------------------------------

lists = st.lists(st.integers(), max_size=40)


@settings(max_examples=25, deadline=None)
@given(inputs=st.lists(lists, max_size=4))
async def test_property_merge_is_an_interleaving(inputs: list[list[int]]) -> None:
    tagged = [[(i, x) for x in xs] for i, xs in enumerate(inputs)]
    got = await merge(*(from_iterable(t) for t in tagged)).collect()
    assert sorted(got) == sorted(p for t in tagged for p in t)
    for i, t in enumerate(tagged):
        assert [p for p in got if p[0] == i] == t


@settings(max_examples=25, deadline=None)
@given(inputs=st.lists(lists, min_size=1, max_size=4))
async def test_property_zip_and_concat_match_builtins(inputs: list[list[int]]) -> None:
    streams = [from_iterable(xs) for xs in inputs]
    assert await zip(*streams).collect() == list(builtins.zip(*inputs))
    assert await concat(*streams).collect() == [x for xs in inputs for x in xs]


# -- graceful stop and cancellation of zip, zip_latest, concat ------------------------------------


async def stop_after(
    stream: Stream[Any], delay: float, *, grace: float | None = None
) -> tuple[list[Any], float]:
    """Stop ``stream``'s run after ``delay`` s: (items, elapsed). With ``grace``, a drain
    that does not finish in time raises ``Aborted`` (so a passing test proves no abort)."""
    got: list[Any] = []
    start = anyio.current_time()
    async with stream.stream(grace=grace) as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(delay)
            run.stop()

        tg.start_soon(stopper)
        async for item in run:
            got.append(item)
    return got, anyio.current_time() - start


async def test_zip_strict_stop_is_not_a_length_error() -> None:
    got, took = await stop_after(zip(interval(1), interval(2), strict=True), 5.5)
    assert got == [(0, 0), (1, 1)]
    assert took <= 5.5 + 1e-9


async def test_zip_latest_stop() -> None:
    got, took = await stop_after(zip_latest(interval(2), never()), 5)
    assert got == [(0, None), (1, None)]
    assert took <= 5 + 1e-9


@pytest.mark.parametrize("combine", [zip, zip_latest, concat, merge])
async def test_cancellation_closes_inputs(combine: Callable[..., Stream[Any]]) -> None:
    a = ScriptedSource(at(1, 1), hang())
    b = ScriptedSource(at(1, 2), hang())
    start = anyio.current_time()
    with anyio.move_on_after(3):
        await combine(a.as_stream(), b.as_stream()).collect()
    assert anyio.current_time() - start == 3
    assert a.closed == a.opened == 1
    assert b.closed == b.opened


async def test_cancellation_at_first_pull() -> None:
    a = ScriptedSource(1)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await merge(a.as_stream()).collect()
    assert a.closed == a.opened


# -- graceful stop of the pipeable forms (their *other* streams) ---------------------------------


async def test_merge_with_stop_drains_every_stream_and_loses_nothing() -> None:
    # Without the relay, the endless other streams would run until the grace period
    # aborted the run (Aborted raised from the async with).
    a, b = Pulls("a"), Pulls("b")
    s = a.stream() | merge_with(b.stream() | buffered(5), interval(1)) | buffered(0)
    got: list[Any] = []
    start = anyio.current_time()
    async with s.stream(grace=30) as run, anyio.create_task_group() as tg:

        async def stopper() -> None:
            await anyio.sleep(2.5)
            run.stop()

        tg.start_soon(stopper)
        async for item in run:
            got.append(item)
            await anyio.sleep(0.25)
    # Every item either stream pulled reached the consumer, in order; both were closed.
    for pulls in (a, b):
        mine = [x for x in got if isinstance(x, str) and x.startswith(pulls.label)]
        assert mine == [f"{pulls.label}{n}" for n in builtins.range(1, pulls.pulled + 1)]
        assert pulls.closed == 1
    ticks = [x for x in got if isinstance(x, int)]
    assert ticks == list(builtins.range(len(ticks)))
    # Only what was in flight at 2.5 s drains, one item per 0.25 s: b's buffered(5)
    # (b is staged already, so it gets no INPUT_BUFFER) plus about one item per hop.
    assert anyio.current_time() - start <= 2.5 + 16 * 0.25
    stats = s.stats()["merge_with(2)"]
    assert stats.emitted == len(got)


async def test_merge_with_stop_of_idle_streams_is_prompt() -> None:
    upstream = ScriptedSource(at(1, "x"), hang())
    s = upstream.as_stream() | merge_with(never(), interval(0.75))
    got, took = await stop_after(s, 2, grace=30)
    assert sorted(got, key=str) == [0, 1, "x"]
    assert took <= 2 + 1e-9
    assert upstream.closed == upstream.opened == 1


async def test_merge_with_stop_before_the_others_started() -> None:
    # A stop requested before the run is even iterated: nothing hangs, nothing is lost.
    s = range(3) | merge_with(never(), interval(1))
    got: list[Any] = []
    async with s.stream(grace=30) as run:
        run.stop()
        got.extend([item async for item in run])
    assert set(got) <= {0, 1, 2}


async def test_concat_with_stop_starts_no_further_stream() -> None:
    second = ScriptedSource(at(1, "second"))
    s = interval(1) | take(100) | concat_with(second.as_stream())
    got, took = await stop_after(s, 3.5, grace=30)
    assert got == [0, 1, 2]
    assert took <= 3.5 + 1e-9
    assert second.opened == 0


async def test_concat_with_stop_drains_the_running_other_and_starts_no_more() -> None:
    third = ScriptedSource(at(1, "third"))
    s = just("a") | concat_with(interval(1), third.as_stream())
    got, took = await stop_after(s, 3.5, grace=30)
    assert got == ["a", 0, 1, 2]
    assert took <= 3.5 + 1e-9
    assert third.opened == 0


async def test_zip_with_stop_is_prompt_and_not_a_length_error() -> None:
    s = interval(1) | zip_with(interval(2), strict=True)
    got, took = await stop_after(s, 5.5, grace=30)
    assert got == [(0, 0), (1, 1)]
    assert took <= 5.5 + 1e-9


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (merge_with(range(2)), ["u", 0, 1]),
        (concat_with(range(2)), ["u", 0, 1]),
        (zip_with(range(2)), [("u", 0)]),
    ],
)
async def test_pipeable_forms_run_without_a_stop_state(op: Any, expected: list[Any]) -> None:
    # A StageContext made outside the runner may carry no StopState: the step still runs.
    (step,) = op.steps
    assert isinstance(step, StagedStep)
    assert step.run is not None
    up_tx, up_rx = anyio.create_memory_object_stream[Any](1)
    out_tx, out_rx = anyio.create_memory_object_stream[Any](10)
    with up_rx, out_tx, out_rx:
        with up_tx:
            up_tx.send_nowait("u")
        await step.run(up_rx, out_tx, StageContext(stats=OpStats(step.name), counts=StageCounts()))
        out_tx.close()
        got = [item async for item in out_rx]
    assert sorted(got, key=str) == sorted(expected, key=str)
