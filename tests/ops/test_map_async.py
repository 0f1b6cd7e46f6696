"""map_async's staged path: retry, error policies and the ledger they keep."""

from __future__ import annotations

import anyio
import pytest

from anystream import DeadLetter, DeadLetters, Retry, buffered, from_iterable, map_async

pytestmark = pytest.mark.anyio


class Flaky:
    """Fails the first ``failures[item]`` calls for an item, then returns item * 10."""

    def __init__(self, failures: dict[int, int]) -> None:
        self.failures = dict(failures)
        self.calls: dict[int, int] = {}

    async def __call__(self, item: int) -> int:
        self.calls[item] = self.calls.get(item, 0) + 1
        await anyio.sleep(0.01)
        if self.calls[item] <= self.failures.get(item, 0):
            raise ConnectionError(f"transient failure of {item}")
        return item * 10


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("ordered", [True, False])
async def test_retry_recovers_transient_failures(concurrency: int, ordered: bool) -> None:
    fn = Flaky({2: 1, 5: 2})
    policy = Retry(attempts=3, base_delay=0.1, jitter="none")
    s = from_iterable(range(8)) | map_async(
        fn, concurrency=concurrency, ordered=ordered, retry=policy
    )
    out = await s.collect()
    assert (out if ordered else sorted(out)) == [n * 10 for n in range(8)]
    assert s.stats()["map_async"].retried == 3
    assert fn.calls[5] == 3


async def test_retry_as_a_number_of_attempts() -> None:
    fn = Flaky({1: 1})
    s = from_iterable([1]) | map_async(fn, retry=2)
    assert await s.collect() == [10]


async def test_exhausted_retries_raise_the_last_error_with_notes() -> None:
    fn = Flaky({3: 99})
    s = from_iterable(range(5)) | map_async(fn, concurrency=2, retry=Retry(attempts=2))
    with pytest.raises(ConnectionError, match="transient failure of 3") as info:
        await s.collect()
    notes = info.value.__notes__
    assert any("gave up after 2 attempts" in n for n in notes)
    assert any("map_async" in n for n in notes)


@pytest.mark.parametrize("ordered", [True, False])
async def test_drop_policy_counts_by_exception_type(ordered: bool) -> None:
    fn = Flaky({1: 99, 4: 99})
    s = from_iterable(range(6)) | map_async(fn, concurrency=3, ordered=ordered, on_error="drop")
    out = await s.collect()
    assert sorted(out) == [0, 20, 30, 50]
    op = s.stats()["map_async"]
    assert op.dropped == {"error:ConnectionError": 2}
    assert op.received == 6
    assert op.emitted == 4
    assert op.in_flight == 0


async def test_dead_letters_carry_item_error_operator_and_attempts() -> None:
    fn = Flaky({2: 99})
    dead: DeadLetters[int] = DeadLetters()
    s = (
        from_iterable(range(4))
        | buffered(2)
        | map_async(fn, concurrency=2, retry=Retry(attempts=3, base_delay=0.01), on_error=dead)
    )
    assert await s.collect() == [0, 10, 30]
    (letter,) = list(dead)
    assert isinstance(letter, DeadLetter)
    assert letter.item == 2
    assert isinstance(letter.error, ConnectionError)
    assert letter.operator.startswith("map_async(")
    assert letter.attempts == 3
    assert "ConnectionError" in letter.reason
    op = s.stats()["map_async"]
    assert op.dead_lettered == 1
    assert op.retried == 2
    assert op.received == op.emitted + op.dead_lettered
    assert [d.item for d in await dead.stream().collect()] == [2]


async def test_a_dead_letter_callback_that_raises_ends_the_run() -> None:
    def broken_sink(letter: DeadLetter[int]) -> None:
        raise OSError("dead-letter sink down")

    fn = Flaky({0: 99})
    with pytest.raises(OSError, match="sink down") as info:
        await (from_iterable([0, 1]) | map_async(fn, on_error=broken_sink)).collect()
    assert any("on_error" in n for n in info.value.__notes__)


async def test_dead_letters_bounded_memory_counts_overflow() -> None:
    dead: DeadLetters[int] = DeadLetters(max_items=2)
    fn = Flaky(dict.fromkeys(range(5), 99))
    assert await (from_iterable(range(5)) | map_async(fn, on_error=dead)).collect() == []
    assert len(dead) == 2
    assert dead.overflowed == 3
    assert dead.count == 5


async def test_an_item_waiting_to_retry_does_not_hold_up_the_others() -> None:
    fn = Flaky({0: 2})
    policy = Retry(attempts=3, base_delay=1.0, jitter="none")  # waits 1 s then 2 s
    t0 = anyio.current_time()
    done: dict[int, float] = {}
    s = from_iterable(range(6)) | map_async(fn, concurrency=2, ordered=False, retry=policy)
    async with s.stream() as items:
        async for item in items:
            done[item // 10] = anyio.current_time() - t0
    assert done[0] >= 3.0
    assert all(done[n] < 1.0 for n in range(1, 6))


async def test_cancellation_is_never_retried_or_dead_lettered() -> None:
    calls = 0

    async def slow(item: int) -> int:
        nonlocal calls
        calls += 1
        await anyio.sleep(100)
        return item

    dead: DeadLetters[int] = DeadLetters()
    with anyio.move_on_after(1):
        await (from_iterable([1]) | map_async(slow, retry=5, on_error=dead)).collect()
    assert calls == 1
    assert len(dead) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"retry": 0}, ValueError, "retry"),
        ({"retry": "twice"}, TypeError, "retry"),
        ({"on_error": "ignore"}, ValueError, "on_error"),
        ({"on_error": 3}, TypeError, "on_error"),
    ],
)
def test_bad_resilience_arguments(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        map_async(Flaky({}), **kwargs)  # type: ignore[arg-type]


def test_dead_letters_validates_max_items() -> None:
    with pytest.raises(ValueError, match="max_items"):
        DeadLetters(max_items=-1)


async def test_map_with_an_error_policy_drops_or_dead_letters() -> None:
    from anystream import map

    def invert(x: int) -> float:
        return 1 / x

    s = from_iterable([1, 0, 2]) | map(invert, on_error="drop")
    assert await s.collect() == [1.0, 0.5]
    assert s.stats()["map"].dropped == {"error:ZeroDivisionError": 1}

    dead: DeadLetters[int] = DeadLetters()
    s = from_iterable([1, 0, 2]) | map(invert, on_error=dead)
    assert await s.collect() == [1.0, 0.5]
    assert [(d.item, d.operator) for d in dead] == [
        (0, "map(test_map_with_an_error_policy_drops_or_dead_letters.<locals>.invert)")
    ]
    with pytest.raises(ValueError, match="on_error"):
        map(invert, on_error="skip")  # type: ignore[arg-type]
