"""Group hygiene of ``from_redis_stream(delete_idle_consumers=...)`` against a real server.

Real clock (see test_redis.py): consumer idle times are the server's wall-clock times.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anystream.connectors.redis import from_redis_stream

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]

try:
    import coredis
except ImportError:  # the redis_server fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


async def _consumers(r: Any, stream: str, group: str) -> dict[str, int]:
    """Consumer name -> number of pending entries."""
    return {
        str(info["name"]): int(info["pending"]) for info in await r.xinfo_consumers(stream, group)
    }


async def test_idle_consumers_without_pending_entries_are_removed(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        for i in range(4):
            await r.xadd("s", {"n": str(i)})
        await r.xgroup_create("s", "g", identifier="0")
        # "stale" read two entries and acknowledged them: nothing pending, long idle.
        reply = await r.xreadgroup("g", "stale", {"s": ">"}, count=2)
        assert reply is not None
        await r.xack("s", "g", [entry.identifier for entry in reply["s"]])
        # "holder" read one and never acknowledged it: it must be kept.
        assert await r.xreadgroup("g", "holder", {"s": ">"}, count=1)
        assert await _consumers(r, "s", "g") == {"stale": 0, "holder": 1}
        await anyio.sleep(0.4)  # both are now idle for longer than the threshold

        entries = await from_redis_stream(
            r, "s", group="g", consumer="w", block=0.05, claim_idle=60,
            claim_interval=0.1, delete_idle_consumers=0.2, idle_stop=0.5,
        ).collect()  # fmt: skip

        assert [e.fields["n"] for e in entries] == ["3"]  # the one nobody had read
        assert await _consumers(r, "s", "g") == {"holder": 1, "w": 0}


async def test_without_the_option_no_consumer_is_removed(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await r.xadd("s", {"n": "0"})
        await r.xgroup_create("s", "g", identifier="0")
        reply = await r.xreadgroup("g", "stale", {"s": ">"}, count=1)
        assert reply is not None
        await r.xack("s", "g", [entry.identifier for entry in reply["s"]])
        await anyio.sleep(0.3)
        await from_redis_stream(
            r, "s", group="g", consumer="w", block=0.05, claim_interval=0.1, idle_stop=0.3
        ).collect()
        assert await _consumers(r, "s", "g") == {"stale": 0, "w": 0}


def test_delete_idle_consumers_bad_input() -> None:
    with pytest.raises(ValueError, match=r"from_redis_stream\(\): delete_idle_consumers must be"):
        from_redis_stream("redis://x", "s", group="g", consumer="w", delete_idle_consumers=0.5)
    with pytest.raises((TypeError, ValueError), match="delete_idle_consumers"):
        from_redis_stream("redis://x", "s", group="g", consumer="w", delete_idle_consumers="1")  # type: ignore[arg-type]


async def test_the_removal_script_keeps_a_consumer_that_read_meanwhile(redis_url: str) -> None:
    # The race XINFO CONSUMERS cannot see: a consumer listed with nothing pending reads
    # entries before the removal. The script checks again atomically and keeps it.
    from anystream.connectors._redis_source import _DELETE_IF_IDLE  # pyright: ignore[reportPrivateUsage]

    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await r.xadd("s", {"n": "0"})
        await r.xgroup_create("s", "g", identifier="0")
        assert await r.xreadgroup("g", "busy", {"s": ">"}, count=1)
        assert await r.eval(_DELETE_IF_IDLE, keys=["s"], args=["g", "busy"]) == 0
        assert await _consumers(r, "s", "g") == {"busy": 1}
        await r.xgroup_createconsumer("s", "g", "empty")
        assert await r.eval(_DELETE_IF_IDLE, keys=["s"], args=["g", "empty"]) == 1
        assert await _consumers(r, "s", "g") == {"busy": 1}
