"""asyncio-only baselines of bench/services.py: the textbook worker pool and reference pipeline.

``worker_pool``: ``n`` worker tasks in an ``asyncio.TaskGroup`` read ``(index, item)``
pairs from one ``asyncio.Queue(maxsize=2 * n)`` fed by a producer task, which ends with one ``None``
sentinel per worker. Ordered: each result is stored at its index in a preallocated list;
unordered: results are appended as they complete. Runs only under ``anyio.run(...,
backend="asyncio")``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

#: ``(scheduled time, payload)``: the reference pipeline's items (bench/services.py).
Stamped = tuple[float, Any]


async def worker_pool(
    fn: Callable[[int], Awaitable[int]], n_items: int, workers: int, ordered: bool
) -> list[int]:
    queue: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue(maxsize=2 * workers)
    results: list[int] = [0] * n_items if ordered else []

    async def produce() -> None:
        for i in range(n_items):
            await queue.put((i, i))
        for _ in range(workers):
            await queue.put(None)

    async def work_ordered() -> None:
        while (job := await queue.get()) is not None:
            results[job[0]] = await fn(job[1])

    async def work_unordered() -> None:
        append = results.append
        while (job := await queue.get()) is not None:
            append(await fn(job[1]))

    work = work_ordered if ordered else work_unordered
    async with asyncio.TaskGroup() as tg:
        tg.create_task(produce())
        for _ in range(workers):
            tg.create_task(work())
    return results


async def reference_pipeline(
    source: AsyncIterator[Stamped],
    parse: Callable[[Stamped], Stamped],
    relevant: Callable[[Stamped], bool],
    enrich: Callable[[Stamped], Awaitable[Stamped]],
    sink: Callable[[Stamped], None],
    workers: int = 8,
    maxsize: int = 50,
) -> None:
    """The reference pipeline as one would write it with asyncio alone.

    A source task parses and filters (dropping the lines ``parse`` rejects with
    ``ValueError``) into an ``asyncio.Queue(maxsize)``; ``workers`` tasks await ``enrich``
    and put the results into a second ``Queue(maxsize)``; a sink task drains it. One
    ``None`` sentinel per worker ends the workers; the last worker to finish ends the
    sink. Results leave in completion order (the textbook pool does not reorder).
    """
    work: asyncio.Queue[Stamped | None] = asyncio.Queue(maxsize)
    done: asyncio.Queue[Stamped | None] = asyncio.Queue(maxsize)
    running = workers

    async def produce() -> None:
        async for item in source:
            try:
                event = parse(item)
            except ValueError:
                continue
            if relevant(event):
                await work.put(event)
        for _ in range(workers):
            await work.put(None)

    async def work_() -> None:
        nonlocal running
        while (event := await work.get()) is not None:
            await done.put(await enrich(event))
        running -= 1
        if running == 0:
            await done.put(None)

    async def drain() -> None:
        while (result := await done.get()) is not None:
            sink(result)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(produce())
        for _ in range(workers):
            tg.create_task(work_())
        tg.create_task(drain())
