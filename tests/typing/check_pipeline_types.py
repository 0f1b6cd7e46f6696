"""Static typing checks: mypy (strict, run by CI over this file) must accept these.

Not collected by pytest (the name does not start with ``test_``); ``assert_type`` is a
no-op at run time and a checked assertion for the type checker.
"""

from __future__ import annotations

from typing import assert_type

from anystream import (
    Operator,
    Stream,
    Window,
    buffered,
    from_iterable,
    map,
    map_async,
    parse,
    take,
    tumbling_window,
    where,
)


async def lookup(n: int) -> str:
    return str(n)


async def pipeline_types() -> None:
    lines: Stream[str] = from_iterable(["1", "2"])
    numbers = lines | parse(int)
    assert_type(numbers, Stream[int])
    tens = numbers.pipe(map(lambda n: n * 10))
    assert_type(tens, Stream[int])
    texts = numbers | buffered(5) | map_async(lookup, concurrency=4)
    assert_type(texts, Stream[str])
    windows = texts.pipe(tumbling_window(2.0))
    assert_type(windows, Stream[Window[str]])
    assert_type(await (numbers | take(3)).collect(), list[int])
    op: Operator[str, int] = parse(int) | map(abs)
    assert_type(lines | op, Stream[int])
    async with lines.pipe(where(str.isdigit)).stream() as run:
        async for line in run:
            assert_type(line, str)
