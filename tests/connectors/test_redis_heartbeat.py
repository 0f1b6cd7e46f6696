"""The heartbeat covers every entry a consumer holds, including a reply's later streams.

One XREADGROUP over several streams returns a batch per stream, and the source hands
them to the pipeline one stream after the other. While the first stream's entries wait
for a slow pipeline, the later streams' entries are already this consumer's (in its PEL)
but not in the pipeline yet: the heartbeat must keep their idle time fresh as well, or
a live worker's entries look idle to the other workers after ``claim_idle`` and are
processed twice (the scale-out demo under SIGSTOP showed it: tests/e2e/test_redis_stall.py).
Real server, real clock, asyncio and trio.
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


async def test_entries_of_a_replys_later_streams_never_look_idle(redis_url: str) -> None:
    per_stream, claim_idle = 30, 0.5
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        for name in ("a", "b"):
            for i in range(per_stream):
                await r.xadd(name, {"n": str(i)})
            await r.xgroup_create(name, "g", identifier="0")  # for the watcher's first look
        most_idle = 0  # entries pending for longer than claim_idle, at the worst moment

        async def watch() -> None:
            nonlocal most_idle
            while True:
                for name in ("a", "b"):
                    rows = await r.xpending(
                        name, "g", start="-", end="+", count=100, idle=int(claim_idle * 1000)
                    )
                    most_idle = max(most_idle, len(rows))
                await anyio.sleep(0.02)

        async def stage(entry: RedisEntry) -> str:
            # One at a time, 30 ms each: b's batch (read with a's, in one reply) waits
            # about 0.9 s for a's to go through, far longer than claim_idle.
            await anyio.sleep(0.03)
            return f"{entry.stream}{entry.fields['n']}"

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                got = await (
                    from_redis_stream(
                        redis_url, ["a", "b"], group="g", consumer="w", batch=per_stream,
                        block=0.05, claim_idle=claim_idle, idle_stop=0.5,
                    )
                    | a.map_async(stage, concurrency=1)
                ).collect()  # fmt: skip
                tg.cancel_scope.cancel()
        assert sorted(got) == sorted(f"{s}{i}" for s in "ab" for i in range(per_stream))
        assert most_idle == 0, f"{most_idle} held entries looked idle for over {claim_idle} s"
        for name in ("a", "b"):
            assert await _pending(r, name) == 0


async def _pending(r: Any, stream: str) -> int:
    return int((await r.xpending(stream, "g")).pending)
