"""starmap with a coroutine function: concurrency= / ordered= like map_async (aiostream's
``test_starmap`` cases with ``task_limit`` and ``ordered``), on both backends."""

from __future__ import annotations

import anyio
import pytest

from anystream import from_iterable, starmap

pytestmark = pytest.mark.anyio


async def _slow_add(a: int, b: int) -> int:
    await anyio.sleep(1 if a % 2 else 2)
    return a + b


@pytest.mark.parametrize(
    ("concurrency", "ordered", "expected", "elapsed"),
    [
        # aiostream test_starmap "sequential": one call at a time, sum of the waits.
        (1, True, [10, 12, 14, 16], 6),
        # aiostream starmap with task_limit and ordered=True: results in input order.
        (4, True, [10, 12, 14, 16], 2),
        # ordered=False: the fast (odd a) calls come first.
        (4, False, [12, 16, 10, 14], 2),
        # two at a time, unordered: a=2 (started at 1) and a=3 (started at 2) both finish at
        # 3; the tie goes to the call whose timer was set first, on both backends.
        (2, False, [12, 10, 14, 16], 3),
    ],
)
async def test_starmap_async_concurrency(
    concurrency: int, ordered: bool, expected: list[int], elapsed: float
) -> None:
    pairs = [(a, 10 + a) for a in range(4)]
    start = anyio.current_time()
    got = await (
        from_iterable(pairs) | starmap(_slow_add, concurrency=concurrency, ordered=ordered)
    ).collect()
    assert got == expected
    assert anyio.current_time() - start == elapsed


def test_starmap_options_need_a_coroutine_function() -> None:
    with pytest.raises(ValueError, match="coroutine function"):
        starmap(max, concurrency=2)
    with pytest.raises(TypeError, match="ordered"):
        starmap(_slow_add, ordered="yes")  # type: ignore[arg-type]
