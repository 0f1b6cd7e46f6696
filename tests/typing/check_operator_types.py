"""Pinned types of every public operator, for mypy --strict and pyright strict.

``|`` form where the operator's types are known without context (a named function, a
type-preserving operator); ``pipe()`` form where a lambda is piped, because only a
function argument lets a checker solve the lambda's parameter from the stream before it.
Not collected by pytest; ``tests/typing/test_checkers.py`` runs both checkers on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

import anyio

from anystream import (
    Enumerated,
    Group,
    Operator,
    Paired,
    SameOperator,
    Shared,
    Stream,
    Window,
    broadcast,
    buffered,
    chunks,
    concat_with,
    count,
    debounce,
    dedupe,
    delay,
    distinct_until_changed,
    drop_while,
    enumerate,
    filter,
    flat_map,
    from_iterable,
    group_by,
    map,
    map_async,
    map_thread,
    merge_map,
    merge_with,
    pairwise,
    parse,
    rate_limit,
    reduce,
    sample,
    scan,
    session_window,
    share,
    skip,
    skip_last,
    sliding_window,
    switch_map,
    take,
    take_last,
    take_until,
    take_while,
    tap,
    throttle,
    timeout,
    tumbling_window,
    where,
)


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
    assert_type(events | (take(3) | skip(1)), Stream[Event])
    assert_type(events | enumerate(), Stream[tuple[int, Event]])
    assert_type(events | pairwise(), Stream[tuple[Event, Event]])
    assert_type(enumerate(), Enumerated)
    assert_type(pairwise(), Paired)


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
    # Several operators in one pipe() call with lambdas after the first: see
    # check_pipe_pyright.py (mypy infers Any there); one operator per call works in both.
    assert_type(events.pipe(map(value_of), take(2), where(is_big_value)), Stream[float])
    assert_type(events.pipe(take(5)).pipe(where(lambda e: e.value > 0)), Stream[Event])


async def run_types(events: Stream[Event]) -> None:
    assert_type(await events.pipe(map(value_of)).collect(), list[float])
    async with events.pipe(take(1)).stream() as run:
        async for item in run:
            assert_type(item, Event)
