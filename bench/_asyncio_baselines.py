"""asyncio-only baseline for ``map_async``: the textbook worker pool (bench/services.py).

``n`` worker tasks in an ``asyncio.TaskGroup`` read ``(index, item)`` pairs from one
``asyncio.Queue(maxsize=2 * n)`` fed by a producer task, which ends with one ``None``
sentinel per worker. Ordered: each result is stored at its index in a preallocated list;
unordered: results are appended as they complete. Runs only under ``anyio.run(...,
backend="asyncio")``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


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
