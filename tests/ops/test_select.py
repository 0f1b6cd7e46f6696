"""Select family: where/filter, take, skip, take_last, skip_last, take_while, drop_while,
take_until, distinct_until_changed, dedupe."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anystream import (
    Stream,
    buffered,
    dedupe,
    distinct_until_changed,
    drop_while,
    empty,
    filter,
    from_iterable,
    interval,
    map,
    never,
    range,
    skip,
    skip_last,
    take,
    take_last,
    take_until,
    take_while,
    timer,
    where,
)
from anystream.testing import CountingSource, at, raised_in, record, run, scripted

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


def fails_at(n: int) -> Any:
    def predicate(x: int) -> bool:
        if x == n:
            raise Boom(f"boom at {x}")
        return True

    return predicate


async def first_then_exit(stream: Stream[Any]) -> Any:
    async with stream.stream() as items:
        async for item in items:
            return item
    return None


def collect_sync(stream: Stream[Any]) -> list[Any]:
    async def main() -> list[Any]:
        return await stream.collect()

    return run(main, backend="asyncio")  # type: ignore[no-any-return]


# -- where / filter -------------------------------------------------------------------------


async def test_where_keeps_matching_items_and_counts_the_rest() -> None:
    s = range(10) | where(lambda x: x % 3 == 0)
    assert await s.collect() == [0, 3, 6, 9]
    stats = s.stats()["where"]
    assert (stats.received, stats.emitted, stats.dropped) == (10, 4, {"filtered": 6})
    assert filter is where


async def test_where_async_and_awaitable_returning_predicates() -> None:
    async def even(x: int) -> bool:
        await anyio.sleep(0.01)
        return x % 2 == 0

    assert await (range(6) | where(even)).collect() == [0, 2, 4]
    # A plain lambda that returns a coroutine: its result is awaited, not taken as true.
    s = range(6) | where(lambda x: even(x + 1))
    assert await s.collect() == [1, 3, 5]
    assert s.stats()["where"].dropped == {"filtered": 3}


async def test_where_error_and_bad_argument() -> None:
    src = CountingSource(10)
    with pytest.raises(Boom) as info:
        await (src.stream() | where(fails_at(4))).collect()
    assert raised_in(info.value, "where(")
    assert src.closed
    with pytest.raises(TypeError, match=r"where\(\): predicate must be callable"):
        where(True)  # type: ignore[arg-type]


# -- take -----------------------------------------------------------------------------------


async def test_take_closes_the_upstream_at_once() -> None:
    src = CountingSource()
    async with (src.stream() | take(3)).stream() as items:
        out = [x async for x in items]
        # Still inside the run: the source is already closed and was not pulled further.
        assert src.closed
        assert src.pulled == 3
    assert out == [0, 1, 2]


async def test_take_before_a_staged_operator_closes_the_source() -> None:
    src = CountingSource()
    assert await (src.stream() | take(3) | buffered(2)).collect() == [0, 1, 2]
    assert src.closed
    assert src.pulled == 3


async def test_take_zero_never_starts_the_source() -> None:
    src = CountingSource()
    assert await (src.stream() | take(0)).collect() == []
    assert src.pulled == 0


def test_take_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"take\(\): n must be >= 0"):
        take(-1)
    with pytest.raises(TypeError, match=r"take\(\): n must be an int"):
        take(2.5)  # type: ignore[arg-type]


# -- generator steps --------------------------------------------------------------------------


async def test_skip() -> None:
    s = range(6) | skip(4)
    assert await s.collect() == [4, 5]
    stats = s.stats()["skip"]
    # A generator step: what it discarded shows as received - emitted.
    assert (stats.received, stats.emitted) == (6, 2)
    assert await (range(3) | skip(5)).collect() == []
    assert await (range(3) | skip(0)).collect() == [0, 1, 2]


async def test_take_last_and_skip_last() -> None:
    assert await (range(6) | take_last(2)).collect() == [4, 5]
    assert await (range(2) | take_last(5)).collect() == [0, 1]
    assert await (range(3) | take_last(0)).collect() == []
    assert await (range(6) | skip_last(2)).collect() == [0, 1, 2, 3]
    assert await (range(2) | skip_last(5)).collect() == []
    assert await (range(3) | skip_last(0)).collect() == [0, 1, 2]
    s = range(6) | take_last(2)
    await s.collect()
    assert (s.stats()["take_last"].received, s.stats()["take_last"].emitted) == (6, 2)


async def test_skip_last_emits_each_item_n_items_late() -> None:
    source = scripted(at(1.0, "a"), at(2.0, "b"), at(3.0, "c"), at(4.0, "d"))
    rec = await record(source | skip_last(2))
    assert rec.events == [(3.0, "a"), (4.0, "b")]


async def test_take_while_stops_at_the_first_failure_and_closes_upstream() -> None:
    src = CountingSource()
    s = src.stream() | take_while(lambda x: x < 3)
    assert await s.collect() == [0, 1, 2]
    assert src.pulled == 4  # the failing item, nothing after it
    assert src.closed
    stats = s.stats()["take_while"]
    assert (stats.received, stats.emitted) == (4, 3)


async def test_take_while_mid_pipeline_pulls_nothing_more() -> None:
    src = CountingSource(10**9)
    with anyio.fail_after(5):
        out = await (src.stream() | take_while(lambda x: x < 3) | buffered(0)).collect()
    assert out == [0, 1, 2]
    assert src.closed
    # The source runs in a task of its own here (the runner keeps a source alone in its
    # task when a generator step follows), so it may have one more item in hand.
    assert src.pulled <= 5


async def test_take_while_and_drop_while_async_predicates() -> None:
    async def small(x: int) -> bool:
        await anyio.sleep(0.01)
        return x < 3

    assert await (range(6) | take_while(small)).collect() == [0, 1, 2]
    assert await (range(6) | drop_while(small)).collect() == [3, 4, 5]
    assert await (range(6) | take_while(lambda x: small(x))).collect() == [0, 1, 2]


async def test_drop_while_stops_testing_after_the_first_failure() -> None:
    calls: list[int] = []

    def small(x: int) -> bool:
        calls.append(x)
        return x < 2 or x > 3

    assert await (range(6) | drop_while(small)).collect() == [2, 3, 4, 5]
    assert calls == [0, 1, 2]


async def test_distinct_until_changed() -> None:
    s = from_iterable("aabacccb") | distinct_until_changed()
    assert await s.collect() == list("abacb")
    assert (s.stats()[1].received, s.stats()[1].emitted) == (8, 5)
    words = ["Apple", "avocado", "Banana", "blueberry", "apple"]
    keyed = from_iterable(words) | distinct_until_changed(lambda w: w[0].lower())
    assert await keyed.collect() == ["Apple", "Banana", "apple"]
    assert await (empty() | distinct_until_changed()).collect() == []


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: take_while(fails_at(3)), "take_while("),
        (lambda: drop_while(lambda x: fails_at(3)(x) and x < 10), "drop_while("),
        (lambda: distinct_until_changed(fails_at(3)), "distinct_until_changed("),
    ],
)
async def test_callback_errors_have_notes_and_close_the_source(make: Any, name: str) -> None:
    src = CountingSource()
    with pytest.raises(Boom) as info:
        await (src.stream() | make()).collect()
    assert raised_in(info.value, name)
    assert src.closed


@pytest.mark.parametrize(
    "make",
    [
        lambda: skip(2),
        lambda: skip_last(2),
        lambda: take_while(lambda x: True),
        lambda: drop_while(lambda x: x < 1),
        lambda: distinct_until_changed(),
        lambda: dedupe(max_keys=10),
        lambda: take_until(anyio.Event()),
    ],
)
async def test_early_exit_closes_the_upstream(make: Any) -> None:
    src = CountingSource()
    with anyio.fail_after(5):
        await first_then_exit(src.stream() | make())
    assert src.closed
    assert src.pulled < 10


def test_bad_arguments_name_the_argument() -> None:
    for factory in (skip, take_last, skip_last):
        with pytest.raises(ValueError, match=rf"{factory.__name__}\(\): n must be >= 0"):
            factory(-1)
        with pytest.raises(TypeError, match=rf"{factory.__name__}\(\): n must be an int"):
            factory("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"take_while\(\): predicate must be callable"):
        take_while(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"drop_while\(\): predicate must be callable"):
        drop_while(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"distinct_until_changed\(\): key must be callable"):
        distinct_until_changed("x")  # type: ignore[arg-type]


@given(st.lists(st.integers(0, 5)), st.integers(0, 8))
def test_properties_against_itertools(items: list[int], n: int) -> None:
    source = from_iterable(items)
    assert collect_sync(source | skip(n)) == items[n:]
    assert collect_sync(source | take_last(n)) == (items[-n:] if n else [])
    assert collect_sync(source | skip_last(n)) == (items[:-n] if n else items)
    assert collect_sync(source | take_while(lambda x: x < 3)) == list(
        itertools.takewhile(lambda x: x < 3, items)
    )
    assert collect_sync(source | drop_while(lambda x: x < 3)) == list(
        itertools.dropwhile(lambda x: x < 3, items)
    )
    assert collect_sync(source | distinct_until_changed()) == [
        k for k, _ in itertools.groupby(items)
    ]


# -- take_until -----------------------------------------------------------------------------


async def test_take_until_a_stream() -> None:
    rec = await record(interval(1.0) | take_until(timer(3.5)))
    assert rec.events == [(1.0, 0), (2.0, 1), (3.0, 2)]


async def test_run_ends_when_take_until_fires_even_if_the_upstream_is_waiting() -> None:
    # CORE BUG (runner.Run._exit): once the final loop has ended normally, the run waits
    # for every upstream task to finish by itself instead of cancelling them. An upstream
    # that is waiting (never(), a quiet socket, interval's sleep) rather than sending
    # keeps the run open: here forever. take_until itself returned at t=1.0.
    start = anyio.current_time()
    with anyio.fail_after(60):
        assert await (never() | take_until(timer(1.0))).collect() == []
    assert anyio.current_time() - start == 1.0


async def test_take_until_an_event() -> None:
    event = anyio.Event()

    async def fire() -> None:
        await anyio.sleep(2.5)
        event.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(fire)
        rec = await record(interval(1.0) | take_until(event))
    assert rec.events == [(1.0, 0), (2.0, 1)]


async def test_take_until_an_event_already_set_emits_nothing() -> None:
    event = anyio.Event()
    event.set()
    src = CountingSource()
    assert await (src.stream() | take_until(event)).collect() == []
    assert src.closed


async def test_take_until_closes_the_upstream_and_the_trigger() -> None:
    src = CountingSource(10**9)
    trigger_closed: list[bool] = []

    async def trigger_items() -> AsyncIterator[str]:
        try:
            await anyio.sleep(1.0)
            yield "stop"
            await anyio.sleep(100)
        finally:
            trigger_closed.append(True)

    async def slow(x: int) -> int:
        await anyio.sleep(0.3)
        return x

    from anystream import map_async

    s = src.stream() | map_async(slow) | take_until(from_iterable(trigger_items()))
    with anyio.fail_after(5):
        out = await s.collect()
    assert out == [0, 1, 2]
    assert src.closed
    assert trigger_closed == [True]


async def test_take_until_a_trigger_that_ends_without_firing() -> None:
    assert await (range(5) | take_until(empty())).collect() == [0, 1, 2, 3, 4]
    assert await (range(5) | take_until(never())).collect() == [0, 1, 2, 3, 4]


async def test_take_until_trigger_error_propagates() -> None:
    trigger = timer(1.0) | map(lambda _: 1 / 0)
    with pytest.raises(ZeroDivisionError) as info:
        await (interval(0.5) | take_until(trigger)).collect()
    assert raised_in(info.value, "map(")


def test_take_until_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"take_until\(\): trigger must be an anyio.Event"):
        take_until(3)  # type: ignore[arg-type]


# -- dedupe ---------------------------------------------------------------------------------


async def test_dedupe_drops_and_counts_duplicates() -> None:
    s = from_iterable([1, 2, 1, 3, 2, 4, 1]) | dedupe(max_keys=100)
    assert await s.collect() == [1, 2, 3, 4]
    stats = s.stats()["dedupe"]
    assert (stats.received, stats.emitted, stats.dropped) == (7, 4, {"duplicate": 3})
    assert s.stats().dropped == {"duplicate": 3}


async def test_dedupe_by_key() -> None:
    events = [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "a", "v": 3}]
    out = await (from_iterable(events) | dedupe(lambda e: e["id"], max_keys=10)).collect()
    assert out == events[:2]


async def test_dedupe_max_keys_forgets_the_oldest() -> None:
    # max_keys=2: after a, b, c the key a is forgotten, so the last a passes again.
    s = from_iterable(["a", "b", "c", "c", "a"]) | dedupe(max_keys=2)
    assert await s.collect() == ["a", "b", "c", "a"]
    assert s.stats()["dedupe"].dropped == {"duplicate": 1}


async def test_dedupe_ttl_on_the_virtual_clock() -> None:
    source = scripted(at(0.0, "a"), at(1.0, "a"), at(5.0, "a"), at(5.5, "b"), at(20.0, "a"))
    rec = await record(source | dedupe(ttl=3.0))
    # 1.0: duplicate (refreshes a until 4.0); 5.0: expired, passes; 20.0: expired again.
    assert rec.events == [(0.0, "a"), (5.0, "a"), (5.5, "b"), (20.0, "a")]


async def test_dedupe_is_fresh_per_run() -> None:
    s = from_iterable([1, 1, 2]) | dedupe(max_keys=5)
    assert await s.collect() == [1, 2]
    assert await s.collect() == [1, 2]


async def test_dedupe_errors_have_notes() -> None:
    with pytest.raises(KeyError) as info:
        await (from_iterable([{"id": 1}, {}]) | dedupe(lambda e: e["id"], max_keys=5)).collect()
    assert raised_in(info.value, "dedupe(")
    with pytest.raises(TypeError, match="unhashable") as type_info:
        await (from_iterable([[1]]) | dedupe(max_keys=5)).collect()
    assert raised_in(type_info.value, "dedupe(")


def test_dedupe_requires_a_bound_and_valid_arguments() -> None:
    with pytest.raises(ValueError, match=r"dedupe\(\): give max_keys, ttl or both"):
        dedupe()
    with pytest.raises(ValueError, match=r"dedupe\(\): max_keys must be >= 1"):
        dedupe(max_keys=0)
    with pytest.raises(ValueError, match=r"dedupe\(\): ttl must be > 0"):
        dedupe(ttl=0)
    with pytest.raises(TypeError, match=r"dedupe\(\): ttl must be a number"):
        dedupe(ttl="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dedupe\(\): key must be callable"):
        dedupe("id", max_keys=3)  # type: ignore[arg-type]
