"""Hand-written baselines for the reference chain, the yardsticks anystream is measured by.

Each takes the list of raw lines and returns the list of ``EnrichedEvent`` equal to
``workload.expected_output(lines)``. From cheapest to dearest plumbing:

- ``sync_loop``: no async at all; the floor for the work itself.
- ``async_generator_chain``: one async generator per stage, no scheduler involvement; what
  fused per-item operators must approach.
- ``aiostream_chain``: the existing operator library, asyncio only.
- ``asyncio_queue_pipeline``: the seed's one-task-per-stage design with bounded queues;
  what ``buffered(n)`` hops must beat.
- ``anyio_stream_pipeline``: the same topology done naively on anyio memory streams; what
  the anyio hand-off must not degrade into.

``python -m bench.baselines [--n N] [--repeat R]`` measures them all on asyncio and trio.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

import anyio

from bench.harness import BACKENDS, Candidate, compare, print_table
from bench.workload import (
    EnrichedEvent,
    Event,
    check_output,
    enrich,
    expected_output,
    is_relevant,
    make_lines,
    parse_line,
)

# -- 1. plain synchronous loop ---------------------------------------------------------------


def sync_loop(lines: list[str]) -> list[EnrichedEvent]:
    out: list[EnrichedEvent] = []
    for line in lines:
        try:
            event = parse_line(line)
        except ValueError:
            continue
        if is_relevant(event):
            out.append(enrich(event))
    return out


# -- 2. hand-written async generators --------------------------------------------------------
# None of them ever awaits the scheduler: the cost measured is purely the generator layers
# (one asend/StopIteration round trip per stage per item), the lower bound for any
# async-iterator-based operator chain, and the target for fused anystream operators.


async def _agen_source(lines: Iterable[str]) -> AsyncGenerator[str, None]:
    for line in lines:
        yield line


async def _agen_parse(source: AsyncIterator[str]) -> AsyncGenerator[Event, None]:
    async for line in source:
        try:
            event = parse_line(line)
        except ValueError:
            continue
        yield event


async def _agen_filter(source: AsyncIterator[Event]) -> AsyncGenerator[Event, None]:
    async for event in source:
        if is_relevant(event):
            yield event


async def _agen_enrich(source: AsyncIterator[Event]) -> AsyncGenerator[EnrichedEvent, None]:
    async for event in source:
        yield enrich(event)


async def async_generator_chain(lines: list[str]) -> list[EnrichedEvent]:
    chain = _agen_enrich(_agen_filter(_agen_parse(_agen_source(lines))))
    # aclosing: an abandoned async generator is finalised late on both backends (3a);
    # closing the outermost one closes the chain. Free on full consumption.
    async with aclosing(chain) as events:
        return [event async for event in events]


# -- 3. seed-style asyncio.Queue pipeline ----------------------------------------------------
# One task per stage, a bounded queue per hop, a sentinel for end of input. Queue.put/get
# only suspend when full/empty, so most hops never touch the event loop: that is why this
# design is ~10x cheaper per hop than a naive anyio memory stream.

_END = object()


async def asyncio_queue_pipeline(lines: list[str], maxsize: int = 50) -> list[EnrichedEvent]:
    q_lines: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    q_parsed: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    q_relevant: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    q_enriched: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    out: list[EnrichedEvent] = []

    async def source() -> None:
        for line in lines:
            await q_lines.put(line)
        await q_lines.put(_END)

    async def parse() -> None:
        while (line := await q_lines.get()) is not _END:
            try:
                event = parse_line(line)
            except ValueError:
                continue
            await q_parsed.put(event)
        await q_parsed.put(_END)

    async def filter_() -> None:
        while (event := await q_parsed.get()) is not _END:
            if is_relevant(event):
                await q_relevant.put(event)
        await q_relevant.put(_END)

    async def enrich_() -> None:
        while (event := await q_relevant.get()) is not _END:
            await q_enriched.put(enrich(event))
        await q_enriched.put(_END)

    async def sink() -> None:
        while (item := await q_enriched.get()) is not _END:
            out.append(item)

    async with asyncio.TaskGroup() as tg:
        for stage in (source, parse, filter_, enrich_, sink):
            tg.create_task(stage())
    return out


# -- 4. naive anyio memory-stream pipeline ---------------------------------------------------
# The same topology on anyio. Every send()/receive() is a full checkpoint (a trip through
# the scheduler even when there is room or data), which is what makes this ~10x slower per
# hop than asyncio.Queue; a batching, checkpoint-on-block hand-off is anystream's answer.


async def anyio_stream_pipeline(lines: list[str], size: int = 50) -> list[EnrichedEvent]:
    send_lines, recv_lines = anyio.create_memory_object_stream[str](size)
    send_parsed, recv_parsed = anyio.create_memory_object_stream[Event](size)
    send_relevant, recv_relevant = anyio.create_memory_object_stream[Event](size)
    send_enriched, recv_enriched = anyio.create_memory_object_stream[EnrichedEvent](size)
    out: list[EnrichedEvent] = []

    # Stages written out like the asyncio.Queue ones, so the two differ only in the
    # queue primitive. Closing a send side on exit is what propagates end of input
    # (EndOfStream ends the next stage's ``async for``).
    async def source() -> None:
        async with send_lines:
            for line in lines:
                await send_lines.send(line)

    async def parse() -> None:
        async with recv_lines, send_parsed:
            async for line in recv_lines:
                try:
                    event = parse_line(line)
                except ValueError:
                    continue
                await send_parsed.send(event)

    async def filter_() -> None:
        async with recv_parsed, send_relevant:
            async for event in recv_parsed:
                if is_relevant(event):
                    await send_relevant.send(event)

    async def enrich_() -> None:
        async with recv_relevant, send_enriched:
            async for event in recv_relevant:
                await send_enriched.send(enrich(event))

    async def sink() -> None:
        async with recv_enriched:
            async for item in recv_enriched:
                out.append(item)

    async with anyio.create_task_group() as tg:
        for stage in (source, parse, filter_, enrich_, sink):
            tg.start_soon(stage)
    return out


# -- 4b. trio memory-channel pipeline ------------------------------------------------------
# What a trio user writes: the same topology with trio's own memory channels (trio only).
# trio's send()/receive() checkpoint too, but they are cheaper than anyio's wrappers:
# this, not the anyio pipeline above, is the fair textbook for B on trio (issue 20).


async def trio_channel_pipeline(lines: list[str], size: int = 50) -> list[EnrichedEvent]:
    import trio  # trio only: imported when this baseline runs

    send_lines, recv_lines = trio.open_memory_channel[str](size)
    send_parsed, recv_parsed = trio.open_memory_channel[Event](size)
    send_relevant, recv_relevant = trio.open_memory_channel[Event](size)
    send_enriched, recv_enriched = trio.open_memory_channel[EnrichedEvent](size)
    out: list[EnrichedEvent] = []

    async def source() -> None:
        async with send_lines:
            for line in lines:
                await send_lines.send(line)

    async def parse() -> None:
        async with recv_lines, send_parsed:
            async for line in recv_lines:
                try:
                    event = parse_line(line)
                except ValueError:
                    continue
                await send_parsed.send(event)

    async def filter_() -> None:
        async with recv_parsed, send_relevant:
            async for event in recv_parsed:
                if is_relevant(event):
                    await send_relevant.send(event)

    async def enrich_() -> None:
        async with recv_relevant, send_enriched:
            async for event in recv_relevant:
                await send_enriched.send(enrich(event))

    async def sink() -> None:
        async with recv_enriched:
            async for item in recv_enriched:
                out.append(item)

    async with trio.open_nursery() as nursery:
        for stage in (source, parse, filter_, enrich_, sink):
            nursery.start_soon(stage)
    return out


# -- 5. aiostream ----------------------------------------------------------------------------
# aiostream is GPL: imported here (benchmark only), never copied into anystream. Note that
# stream.iterate() over a sync iterable does asyncio.sleep(0) per item: that checkpoint is
# part of what a user of aiostream pays, so it stays in the measurement.


def _parse_or_none(line: str) -> Event | None:
    try:
        return parse_line(line)
    except ValueError:
        return None


def _is_relevant_event(event: Event | None) -> bool:
    # Drops the malformed lines (None) and the irrelevant events in one stage, so the
    # aiostream chain has the same three stages after the source as the other baselines.
    return event is not None and is_relevant(event)


async def aiostream_chain(lines: list[str]) -> list[EnrichedEvent]:
    from aiostream import pipe, stream  # optional dependency: import only when run

    # The ignores: aiostream types map's callable as ``(arg, /, *args)``, which rejects a
    # plain one-argument function, and cannot narrow ``Event | None`` through a filter.
    xs = (
        stream.iterate(lines)
        | pipe.map(_parse_or_none)  # type: ignore[arg-type]
        | pipe.filter(_is_relevant_event)
        | pipe.map(enrich)  # type: ignore[arg-type]
        | pipe.list()
    )
    result: list[EnrichedEvent] = await xs
    return result


# -- registry and command line ---------------------------------------------------------------

ASYNCIO_ONLY = ("asyncio",)

BASELINES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("sync_loop", sync_loop),
        Candidate("async_generator_chain", async_generator_chain),
        Candidate("aiostream_chain", aiostream_chain, ASYNCIO_ONLY),
        Candidate("asyncio_queue_pipeline", asyncio_queue_pipeline, ASYNCIO_ONLY),
        Candidate("anyio_stream_pipeline", anyio_stream_pipeline),
        Candidate("trio_channel_pipeline", trio_channel_pipeline, ("trio",)),
    )
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="input lines (default 200000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per candidate")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per candidate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", default="async_generator_chain", choices=BASELINES)
    parser.add_argument(
        "--backend", action="append", choices=BACKENDS, help="repeatable (default: all)"
    )
    parser.add_argument("--only", action="append", choices=BASELINES, help="repeatable")
    args = parser.parse_args(argv)

    lines = make_lines(args.n, args.seed)
    expected = expected_output(lines)
    candidates = [BASELINES[name] for name in args.only or BASELINES]
    results = compare(
        candidates,
        lines,
        backends=args.backend or BACKENDS,
        repeat=args.repeat,
        warmup=args.warmup,
        check=lambda result: check_output(result, expected),
    )
    print(f"N={args.n} lines ({len(expected)} events out), best of {args.repeat}")
    print_table(results, n_items=args.n, baseline=args.baseline)


if __name__ == "__main__":
    main()
