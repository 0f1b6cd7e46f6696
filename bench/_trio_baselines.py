"""trio-only baselines of bench/services.py: the textbook worker pool and reference pipeline.

``worker_pool``: ``n`` worker tasks in a nursery read ``(index, item)`` pairs from one
``trio.open_memory_channel(2 * n)`` fed by a producer task that closes its send end when
done (which ends every worker's ``async for``). Ordered: each result is stored at its index
in a preallocated list; unordered: results are appended as they complete. Runs only under
``anyio.run(..., backend="trio")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

#: ``(scheduled time, payload)``: the reference pipeline's items (bench/services.py).
Stamped = tuple[float, Any]


async def worker_pool(
    fn: Callable[[int], Awaitable[int]], n_items: int, workers: int, ordered: bool
) -> list[int]:
    send, receive = trio.open_memory_channel[tuple[int, int]](2 * workers)
    results: list[int] = [0] * n_items if ordered else []

    async def produce() -> None:
        async with send:
            for i in range(n_items):
                await send.send((i, i))

    async def work_ordered() -> None:
        async for i, x in receive:
            results[i] = await fn(x)

    async def work_unordered() -> None:
        append = results.append
        async for _i, x in receive:
            append(await fn(x))

    work = work_ordered if ordered else work_unordered
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        for _ in range(workers):
            nursery.start_soon(work)
    return results


async def reference_pipeline(
    source: AsyncIterator[Stamped],
    parse: Callable[[Stamped], Stamped],
    relevant: Callable[[Stamped], bool],
    enrich: Callable[[Stamped], Awaitable[Stamped]],
    sink: Callable[[Stamped], None],
    workers: int = 8,
    size: int = 50,
) -> None:
    """The reference pipeline as one would write it with trio alone.

    A source task parses and filters into a memory channel of ``size``; ``workers`` tasks
    (each with a clone of both channels' ends) await ``enrich`` and send the results into
    a second channel of ``size``; a sink task iterates it. Closing the send ends ends
    every loop. Results leave in completion order.
    """
    work_tx, work_rx = trio.open_memory_channel[Stamped](size)
    done_tx, done_rx = trio.open_memory_channel[Stamped](size)

    async def produce() -> None:
        async with work_tx:
            async for item in source:
                try:
                    event = parse(item)
                except ValueError:
                    continue
                if relevant(event):
                    await work_tx.send(event)

    async def work_(
        rx: trio.MemoryReceiveChannel[Stamped], tx: trio.MemorySendChannel[Stamped]
    ) -> None:
        async with rx, tx:
            async for event in rx:
                await tx.send(await enrich(event))

    async def drain() -> None:
        async with done_rx:
            async for result in done_rx:
                sink(result)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with work_rx, done_tx:
            for _ in range(workers):
                nursery.start_soon(work_, work_rx.clone(), done_tx.clone())
        nursery.start_soon(drain)
