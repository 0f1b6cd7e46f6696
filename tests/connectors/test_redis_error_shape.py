"""Issue 14: a failure downstream of ``from_redis_stream`` reaches the caller as itself.

It used to come back as ``ExceptionGroup[RuntimeError, BrokenResourceError]`` (the source
task meeting the closed hand-off is a consequence of the failure, not a second one; see
``_core/errors.py``). Real server, real clock, asyncio and trio; with and without a staged
operator, and through a task group the consumer opened inside the run.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import anystream as a
from anystream.connectors.redis import RedisEntry, from_redis_stream

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock, pytest.mark.timeout(60)]

try:
    import coredis
except ImportError:  # the redis_server fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


async def _add(url: str, stream: str, n: int) -> None:
    async with coredis.Redis.from_url(url, decode_responses=True) as r:
        for i in range(n):
            await r.xadd(stream, {"n": str(i)})


def _fail_on_third(entry: RedisEntry) -> int:
    n = int(entry.fields["n"])
    if n == 2:
        raise RuntimeError(f"bad entry {n}")
    return n


SHAPES = {
    "fused": lambda s: s | a.map(_fail_on_third),
    "buffered before": lambda s: s | a.buffered(4) | a.map(_fail_on_third),
    "buffered after": lambda s: s | a.map(_fail_on_third) | a.buffered(4),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("consumer_group", [False, True])
async def test_downstream_failure_is_the_error_itself(
    redis_url: str, shape: str, consumer_group: bool
) -> None:
    await _add(redis_url, "s", 10)
    source = from_redis_stream(redis_url, "s", group="g", consumer="c", block=0.05)
    stream: Any = SHAPES[shape](source)
    got: list[int] = []
    with anyio.fail_after(30), pytest.raises(RuntimeError, match="bad entry 2") as info:
        async with stream.stream() as run:
            if consumer_group:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.sleep_forever)
                    async for n in run:
                        got.append(n)
            else:
                async for n in run:
                    got.append(n)
    assert type(info.value) is RuntimeError
    assert any("map(_fail_on_third)" in note for note in getattr(info.value, "__notes__", []))
    assert got == [0, 1]
