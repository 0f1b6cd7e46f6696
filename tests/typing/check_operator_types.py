"""Pinned types of every public operator, for mypy --strict and pyright strict.

``|`` form where the operator's types are known without context (a named function, a
type-preserving operator); ``pipe()`` form where a lambda is piped, because only a
function argument lets a checker solve the lambda's parameter from the stream before it.
Not collected by pytest; ``tests/typing/test_checkers.py`` runs both checkers on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Never, TypeVar, assert_type

import anyio

from anystream import (
    Chunked,
    Enumerated,
    Group,
    Operator,
    Paired,
    SameOperator,
    Shared,
    Stream,
    Window,
    ZippedWith,
    broadcast,
    buffered,
    catch,
    chunks,
    concat_with,
    count,
    cycle,
    debounce,
    dedupe,
    default_if_empty,
    delay,
    distinct_until_changed,
    drop_while,
    end_with,
    enumerate,
    exhaust_map,
    filter,
    flat_map,
    from_iterable,
    group_by,
    item,
    map,
    map_async,
    map_thread,
    merge_map,
    merge_with,
    on_error_resume,
    operator,
    pairwise,
    parse,
    rate_limit,
    reduce,
    retry_stream,
    sample,
    scan,
    session_window,
    share,
    skip,
    skip_last,
    slice,
    sliding_window,
    starmap,
    start_with,
    switch_map,
    take,
    take_last,
    take_until,
    take_while,
    tap,
    throttle,
    throw,
    timeout,
    tumbling_window,
    where,
    with_latest_from,
    zip_latest,
    zip_with,
)
from anystream.testing import At, marbles

T = TypeVar("T")


@dataclass
class Event:
    user: str
    value: float


def value_of(e: Event) -> float:
    return e.value


def is_big_value(v: float) -> bool:
    return v > 1


def show(e: Event) -> None:
    print(e)


def is_big(e: Event) -> bool:
    return e.value > 1


async def fetch(e: Event) -> str:
    return e.user


def inner(e: Event) -> Stream[int]:
    return from_iterable([int(e.value)])


def user_of(e: Event) -> str:
    return e.user


def stamp(e: Event) -> float:
    return e.value


def zero() -> float:
    return 0.0


def add(acc: float, e: Event) -> float:
    return acc + e.value


def merged(a: float, b: float) -> float:
    return a + b


def parse_line(line: str) -> Event:
    user, value = line.split(",")
    return Event(user, float(value))


async def fetch_value(e: Event) -> float:
    return e.value


def only_positive(s: Stream[Event]) -> Stream[Event]:
    return s.pipe(where(lambda e: e.value > 0))


def halves(s: Stream[float]) -> Stream[float]:
    return s.pipe(map(lambda v: v / 2))


def label(n: int, text: str) -> str:
    return text * n


async def label_async(n: int, text: str) -> str:
    return text * n


def fallback(exc: Exception) -> Stream[str]:
    return from_iterable([str(exc)])


@operator
async def every_other(source: AsyncIterator[T]) -> AsyncIterator[T]:
    keep = True
    async for x in source:
        if keep:
            yield x
        keep = not keep


@operator
async def scaled(source: AsyncIterator[int], factor: int) -> AsyncIterator[float]:
    async for n in source:
        yield n * factor


@operator
async def listed(source: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    async for x in source:
        yield [x]


@operator
async def doubled(source: AsyncIterator[T]) -> AsyncIterator[tuple[T, T]]:
    async for x in source:
        yield (x, x)


@operator
async def keyed(source: AsyncIterator[T]) -> AsyncIterator[dict[str, T]]:
    async for x in source:
        yield {"item": x}


@operator
async def tagged(source: AsyncIterator[T], tag: str) -> AsyncIterator[tuple[str, T]]:
    async for x in source:
        yield (tag, x)


def generic_type_changing_operators(
    events: Stream[Event], lines: Stream[str], texts: Stream[str]
) -> None:
    # A generic @operator that changes the item type gives a generic Stream -> Stream
    # function; its type variable is solved where it is used, in both checkers.
    assert_type(events | listed(), Stream[list[Event]])
    assert_type(events | doubled(), Stream[tuple[Event, Event]])
    assert_type(events | keyed(), Stream[dict[str, Event]])
    assert_type(events | tagged("a"), Stream[tuple[str, Event]])
    assert_type(events.pipe(listed()), Stream[list[Event]])
    assert_type(events.pipe(tagged("a")), Stream[tuple[str, Event]])
    assert_type(events.pipe(where(lambda e: e.value > 0), listed()), Stream[list[Event]])
    assert_type(events.pipe(where(lambda e: e.value > 0), tagged("a")), Stream[tuple[str, Event]])
    assert_type(events.pipe(take(2), keyed(), take(1)), Stream[dict[str, Event]])
    assert_type(events.pipe(map(value_of), doubled()), Stream[tuple[float, float]])
    # A lambda after it in the same call: mypy does not type it (see
    # check_mypy_limits_types.py); len() is an int whatever its argument.
    assert_type(events.pipe(listed(), map(lambda xs: len(xs))), Stream[int])
    assert_type(events.pipe(tagged("a"), map(lambda p: len(p))), Stream[int])
    assert_type(events.pipe(listed(), map(len)), Stream[int])
    assert_type(events.pipe(listed(), listed()), Stream[list[list[Event]]])
    assert_type(events | listed() | listed(), Stream[list[list[Event]]])
    assert_type(events | listed() | take(2), Stream[list[Event]])
    assert_type(events | tagged("a") | map(len), Stream[int])
    # Composed with operators on either side: a function from stream to stream again.
    assert_type(parse(parse_line) | listed(), Callable[[Stream[str]], Stream[list[Event]]])
    assert_type(parse(parse_line) | tagged("a"), Callable[[Stream[str]], Stream[tuple[str, Event]]])
    assert_type(lines | (parse(parse_line) | listed()), Stream[list[Event]])
    assert_type(events | (listed() | take(2)), Stream[list[Event]])
    assert_type(events.pipe(listed() | take(2)), Stream[list[Event]])
    assert_type(events | (take(2) | listed()), Stream[list[Event]])
    assert_type(events | (tagged("a") | map(len)), Stream[int])
    assert_type(events | (where(is_big) | tagged("a")), Stream[tuple[str, Event]])
    assert_type(events.pipe(where(is_big) | tagged("a") | take(1)), Stream[tuple[str, Event]])
    assert_type(events | (listed() | chunks(2)), Stream[list[list[Event]]])
    assert_type(events | (tagged("a") | enumerate()), Stream[tuple[int, tuple[str, Event]]])
    assert_type(events | (keyed() | pairwise()), Stream[tuple[dict[str, Event], dict[str, Event]]])
    assert_type(events | (doubled() | tumbling_window(1.0)), Stream[Window[tuple[Event, Event]]])
    assert_type(events | (listed() | zip_with(texts)), Stream[tuple[list[Event], str]])
    assert_type(listed()(events), Stream[list[Event]])


def type_preserving(events: Stream[Event]) -> None:
    assert_type(take(3), SameOperator)
    assert_type(take(3) | skip(1), SameOperator)
    assert_type(events | take(3), Stream[Event])
    assert_type(events | skip(1), Stream[Event])
    assert_type(events | take_last(2), Stream[Event])
    assert_type(events | skip_last(2), Stream[Event])
    assert_type(events | buffered(8), Stream[Event])
    assert_type(events | buffered(1, overflow="latest"), Stream[Event])
    assert_type(events | take_until(anyio.Event()), Stream[Event])
    assert_type(events | delay(0.1), Stream[Event])
    assert_type(events | debounce(0.1), Stream[Event])
    assert_type(events | throttle(0.1), Stream[Event])
    assert_type(events | sample(0.1), Stream[Event])
    assert_type(events | timeout(1.0), Stream[Event])
    assert_type(events | timeout(first=2.0, fallback=events), Stream[Event])
    assert_type(share(events), Shared[Event])
    assert_type(share(events) | take(2), Stream[Event])
    assert_type(broadcast(events, 2), tuple[Shared[Event], ...])
    assert_type(events | rate_limit(5, 1.0), Stream[Event])
    assert_type(events | take(3) | skip(1) | buffered(2), Stream[Event])
    assert_type(events | distinct_until_changed(), Stream[Event])
    assert_type(events | dedupe(max_keys=100), Stream[Event])
    assert_type(events | distinct_until_changed(user_of), Stream[Event])
    assert_type(events | (take(3) | skip(1)), Stream[Event])
    assert_type(events | enumerate(), Stream[tuple[int, Event]])
    assert_type(events | pairwise(), Stream[tuple[Event, Event]])
    assert_type(enumerate(), Enumerated)
    assert_type(pairwise(), Paired)
    assert_type(events | slice(1, 5, 2), Stream[Event])
    assert_type(events | item(-1), Stream[Event])
    assert_type(events | cycle(max_items=10), Stream[Event])
    assert_type(events | chunks(10), Stream[list[Event]])
    assert_type(events | chunks(10, timeout=1.0), Stream[list[Event]])
    assert_type(events | tumbling_window(1.0), Stream[Window[Event]])
    assert_type(events | sliding_window(2.0, 1.0), Stream[Window[Event]])
    assert_type(events | session_window(5.0), Stream[Window[Event]])


def tuples_and_windows(events: Stream[Event], numbers: Stream[int], texts: Stream[str]) -> None:
    assert_type(zip_with(numbers), ZippedWith[int])
    assert_type(events | zip_with(numbers), Stream[tuple[Event, int]])
    assert_type(events | zip_with(numbers, texts), Stream[tuple[Event, int, str]])
    assert_type(events | with_latest_from(texts), Stream[tuple[Event, str]])
    assert_type(zip_latest(events, numbers), Stream[tuple[Event | None, int | None]])
    assert_type(zip_latest(events, numbers, partial=False), Stream[tuple[Event, int]])
    assert_type(numbers | zip_with(texts) | starmap(label), Stream[str])
    assert_type(numbers | zip_with(texts) | starmap(label_async, concurrency=4), Stream[str])
    assert_type(starmap(label), Operator[tuple[int, str], str])
    assert_type(events | tumbling_window(1.0, key=user_of), Stream[Window[Event, str]])
    assert_type(events | tumbling_window(1.0, time=stamp), Stream[Window[Event]])
    assert_type(
        events | tumbling_window(1.0, aggregate=(zero, add)), Stream[Window[Event, None, float]]
    )
    assert_type(
        events | sliding_window(2.0, 1.0, key=user_of, aggregate=(zero, add)),
        Stream[Window[Event, str, float]],
    )
    assert_type(
        events | session_window(5.0, key=user_of, aggregate=(zero, add, merged)),
        Stream[Window[Event, str, float]],
    )


def extend_and_recover(events: Stream[Event], texts: Stream[str], e0: Event) -> None:
    assert_type(events | start_with(e0), Stream[Event])
    assert_type(events | end_with(e0, e0), Stream[Event])
    assert_type(events | default_if_empty(e0), Stream[Event])
    assert_type(throw(ValueError("boom")), Stream[Never])
    assert_type(catch(events, fallback), Stream[Event | str])
    assert_type(on_error_resume(events, texts), Stream[Event | str])
    assert_type(on_error_resume(events, lambda: ["x"]), Stream[Event | str])
    assert_type(catch(events, lambda exc: [1]), Stream[Event | int])
    assert_type(retry_stream(events, 3, backoff=0.1), Stream[Event])
    assert_type(events | exhaust_map(inner), Stream[int])
    assert_type(scaled(2), Callable[[Stream[int]], Stream[float]])
    assert_type(count(), Operator[object, int])
    assert_type(where(is_big) | chunks(3), Operator[Event, list[Event]])
    assert_type(where(is_big) | enumerate(), Operator[Event, tuple[int, Event]])
    assert_type(where(is_big) | tumbling_window(1.0), Operator[Event, Window[Event]])
    assert_type(map(value_of) | zip_with(texts), Operator[Event, tuple[float, str]])
    assert_type(take(2) | chunks(3), Chunked)
    assert_type(take(2) | map(value_of), Operator[Event, float])
    assert_type(events | (take(2) | chunks(3)), Stream[list[Event]])
    assert_type(events | (where(is_big) | pairwise()), Stream[tuple[Event, Event]])
    assert_type(events | take_until(texts), Stream[Event])
    assert_type(every_other(), SameOperator)
    assert_type(events | every_other(), Stream[Event])
    assert_type(events | every_other() | take(2), Stream[Event])
    assert_type(events.pipe(every_other(), map(value_of)), Stream[float])
    assert_type(from_iterable([1, 2]) | scaled(2), Stream[float])


def named_functions(events: Stream[Event]) -> None:
    assert_type(events | where(is_big), Stream[Event])
    assert_type(events | filter(is_big), Stream[Event])
    assert_type(events | take_while(is_big), Stream[Event])
    assert_type(events | drop_while(is_big), Stream[Event])
    assert_type(events | tap(show), Stream[Event])
    assert_type(events | map(value_of), Stream[float])
    assert_type(events | map_async(fetch, concurrency=4), Stream[str])
    assert_type(events | map_thread(value_of), Stream[float])
    assert_type(events | flat_map(inner), Stream[int])
    assert_type(events | merge_map(inner, 4), Stream[int])
    assert_type(events | switch_map(inner), Stream[int])
    assert_type(events | merge_with(events), Stream[Event])
    assert_type(events | concat_with(events), Stream[Event])
    assert_type(events | count(), Stream[int])
    lines: Stream[str] = from_iterable(["1", "2"])
    assert_type(lines | parse(int), Stream[int])
    assert_type(lines | parse(int) | take(1) | map(str), Stream[str])
    op: Operator[Event, float] = where(is_big) | take(2) | map(value_of)
    assert_type(events | op, Stream[float])


def piped_lambdas(events: Stream[Event]) -> None:
    assert_type(events.pipe(take(2)), Stream[Event])
    assert_type(events.pipe(where(lambda e: e.value > 0)), Stream[Event])
    assert_type(events.pipe(map(lambda e: e.value)), Stream[float])
    assert_type(events.pipe(map_async(fetch)), Stream[str])
    assert_type(events.pipe(tap(lambda e: print(e.user))), Stream[Event])
    assert_type(events.pipe(take_while(lambda e: e.value < 9)), Stream[Event])
    assert_type(events.pipe(drop_while(lambda e: e.value < 1)), Stream[Event])
    assert_type(events.pipe(distinct_until_changed(lambda e: e.user)), Stream[Event])
    assert_type(events.pipe(dedupe(lambda e: e.user, max_keys=100)), Stream[Event])
    assert_type(events.pipe(scan(lambda acc, e: acc + e.value, 0.0)), Stream[float])
    assert_type(events.pipe(reduce(lambda acc, e: acc + e.value, 0.0)), Stream[float])
    assert_type(events.pipe(group_by(lambda e: e.user)), Stream[Group[str, Event]])
    assert_type(events.pipe(chunks(10)), Stream[list[Event]])
    assert_type(events.pipe(chunks(3, step=1)), Stream[list[Event]])
    assert_type(events.pipe(tumbling_window(1.0)), Stream[Window[Event]])
    assert_type(events.pipe(sliding_window(2.0, 1.0)), Stream[Window[Event]])
    assert_type(events.pipe(session_window(5.0)), Stream[Window[Event]])
    assert_type(events.pipe(enumerate()), Stream[tuple[int, Event]])
    assert_type(events.pipe(pairwise()), Stream[tuple[Event, Event]])
    assert_type(events.pipe(start_with(Event("a", 0.0))), Stream[Event])
    assert_type(events.pipe(zip_with(from_iterable([1]))), Stream[tuple[Event, int]])
    assert_type(events.pipe(tumbling_window(1.0, key=lambda e: e.user)), Stream[Window[Event, str]])
    assert_type(
        events.pipe(tumbling_window(1.0, aggregate=(lambda: 0.0, lambda acc, e: acc + e.value))),
        Stream[Window[Event, None, float]],
    )
    assert_type(events.pipe(take(2), tumbling_window(1.0)), Stream[Window[Event]])
    assert_type(events.pipe(map(value_of), take(2), where(is_big_value)), Stream[float])
    assert_type(events.pipe(take(5)).pipe(where(lambda e: e.value > 0)), Stream[Event])
    # A lambda returning a Stream: to a checker a Stream is not async-iterable (it is a
    # description, iterated through a run), so only the Stream overload matches it.
    assert_type(events.pipe(flat_map(lambda e: from_iterable([e.user]))), Stream[str])
    assert_type(events.pipe(merge_map(lambda e: from_iterable([e.value]), 2)), Stream[float])
    assert_type(events.pipe(switch_map(lambda e: from_iterable([e.value]))), Stream[float])
    assert_type(
        events.pipe(where(lambda e: e.value > 0), flat_map(lambda e: from_iterable([e.user]))),
        Stream[str],
    )
    assert_type(events.pipe(flat_map(lambda e: [e.value])), Stream[float])
    # A function over any object (print, logging.info): pipe() solves the item type.
    assert_type(events.pipe(tap(print)), Stream[Event])
    assert_type(events.pipe(where(bool), map(lambda e: e.user)), Stream[str])


def several_lambdas_in_one_pipe(events: Stream[Event], lines: Stream[str]) -> None:
    # Both checkers type the lambdas of the first operator and of the next one that is
    # not take-like (see check_mypy_limits_types.py for a third one in mypy).
    assert_type(
        events.pipe(where(lambda e: e.value > 0), map(lambda e: e.value), take(2)),
        Stream[float],
    )
    assert_type(events.pipe(take(2), where(lambda e: e.value > 0)), Stream[Event])
    assert_type(events.pipe(map(lambda e: e.user), map(lambda u: len(u))), Stream[int])
    assert_type(
        events.pipe(take(3), buffered(2), map(lambda e: e.user), where(lambda u: u != "")),
        Stream[str],
    )
    assert_type(
        lines.pipe(parse(parse_line), buffered(8), where(lambda e: e.value > 0), take(5)),
        Stream[Event],
    )
    assert_type(
        events.pipe(
            where(lambda e: e.value > 0),
            take(10),
            flat_map(lambda e: [e.user, e.user]),
            buffered(4),
        ),
        Stream[str],
    )
    assert_type(
        events.pipe(where(lambda e: e.value > 0), group_by(lambda e: e.user)),
        Stream[Group[str, Event]],
    )
    assert_type(
        events.pipe(where(lambda e: e.value > 0), tumbling_window(1.0, key=lambda e: e.user)),
        Stream[Window[Event, str]],
    )
    assert_type(events.pipe(take(2), map_async(fetch_value), where(lambda v: v > 0)), Stream[float])
    # A function from stream to stream, after the first operator.
    assert_type(events.pipe(where(is_big), only_positive, take(1)), Stream[Event])
    assert_type(events.pipe(map(value_of), halves, take(1)), Stream[float])


async def run_types(events: Stream[Event]) -> None:
    assert_type(await events.pipe(map(value_of)).collect(), list[float])
    keyed = events | tumbling_window(1.0, key=user_of, aggregate=(zero, add))
    async with keyed.stream() as windows:
        async for w in windows:
            assert_type(w.key, str)
            assert_type(w.value, float)
            assert_type(w.items, list[Event])
    async with events.pipe(take(1)).stream() as run:
        async for item in run:
            assert_type(item, Event)


def testing_helpers() -> None:
    assert_type(marbles("-a-b|", 1.0), list[At[str]])
    assert_type(marbles("-a-b|", 1.0, values={"a": 1, "b": 2}), list[At[int]])
