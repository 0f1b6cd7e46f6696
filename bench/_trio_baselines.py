"""trio-only baseline for ``map_async``: the textbook worker pool (bench/services.py).

``n`` worker tasks in a nursery read ``(index, item)`` pairs from one
``trio.open_memory_channel(2 * n)`` fed by a producer task that closes its send end when
done (which ends every worker's ``async for``). Ordered: each result is stored at its index
in a preallocated list; unordered: results are appended as they complete. Runs only under
``anyio.run(..., backend="trio")``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


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
