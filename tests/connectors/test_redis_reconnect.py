"""Reconnecting: the source and the sink ride out a Redis restart, and say so when it is gone.

Each test starts its own ``redis-server`` (``--appendonly yes``, so a SIGTERM restart keeps
the data) on a free port and restarts it on the same port. Real clock (see test_redis.py).
"""

from __future__ import annotations

import gc
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from tests.connectors.conftest import _free_port, command

import anystream as a
from anystream.connectors._redis_client import describe
from anystream.connectors.redis import RedisEntry, from_redis_stream, to_redis_stream

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.real_clock,
    pytest.mark.timeout(120),
    # coredis 6.9 leaks the memory streams of every connection attempt that fails while
    # the server is down (a ResourceWarning each, when collected): not ours, and collected
    # (gc.collect() in the fixture) within the test that caused them.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

try:
    import coredis
except ImportError:  # the server fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


class Restartable:
    """A redis-server of its own that can be stopped (SIGTERM) and started again."""

    def __init__(self, directory: Path, password: str | None = None) -> None:
        self.dir = directory
        self.port = _free_port()
        self.password = password
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
             *(["--requirepass", self.password] if self.password else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                if command(self.port, "PING").startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    async def restart(self, after: float, down_for: float) -> None:
        await anyio.sleep(after)
        await anyio.to_thread.run_sync(self.stop)
        await anyio.sleep(down_for)
        await anyio.to_thread.run_sync(self.start)


@pytest.fixture
def server(redis_server: Any, tmp_path: Path) -> Iterator[Restartable]:
    # redis_server: the skip (or failure) when redis-server or coredis is missing.
    own = Restartable(tmp_path)
    own.start()
    try:
        yield own
    finally:
        own.stop()
        gc.collect()


async def _pending(url: str, stream: str, group: str) -> int:
    async with coredis.Redis.from_url(url, decode_responses=True) as r:
        return int((await r.xpending(stream, group)).pending)


async def test_source_and_sink_survive_a_restart(server: Restartable) -> None:
    n = 600
    async with (
        coredis.Redis.from_url(server.url, decode_responses=True) as r,
        r.pipeline(transaction=False) as p,
    ):
        for i in range(n):
            p.xadd("in", {"n": str(i)})

    async def slow(entry: RedisEntry) -> dict[str, str]:
        await anyio.sleep(0.005)
        return {"n": entry.fields["n"]}

    stream = (
        from_redis_stream(
            server.url, "in", group="g", consumer="w", batch=20, block=0.1, idle_stop=1.5,
            reconnect=20,
        )
        | a.map_async(slow, concurrency=2)
        | to_redis_stream(server.url, "out", batch=10, reconnect=20)
    )  # fmt: skip
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.restart, 0.5, 1.5)
            written = await stream.collect()
    stats = stream.stats()
    # Who notices depends on where each task was (a source waiting for the sink to take
    # entries sends nothing); at least one of them reconnected.
    assert stats[0].retried + stats["to_redis_stream"].retried >= 1
    assert {e.fields["n"] for e in written} == {str(i) for i in range(n)}
    assert await _pending(server.url, "in", "g") == 0
    async with coredis.Redis.from_url(server.url, decode_responses=True) as r:
        out = {e.field_values["n"] for e in await r.xrange("out")}
        assert out == {str(i) for i in range(n)}


async def test_a_reading_source_reconnects_and_reads_what_came_meanwhile(
    server: Restartable,
) -> None:
    async def produce() -> None:
        async with coredis.Redis.from_url(server.url, decode_responses=True) as r:
            for i in range(100):
                await r.xadd("in", {"n": str(i)})
        await server.restart(0.3, 1.0)
        async with coredis.Redis.from_url(server.url, decode_responses=True) as r:
            for i in range(100, 200):
                await r.xadd("in", {"n": str(i)})

    stream = from_redis_stream(
        server.url, "in", group="g", consumer="w", block=0.1, idle_stop=2.0, reconnect=20
    ) | a.map(lambda e: int(e.fields["n"]))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            got = await stream.collect()
    assert sorted(got) == list(range(200))
    assert stream.stats()[0].retried >= 1
    assert await _pending(server.url, "in", "g") == 0


async def test_a_server_gone_for_good_is_one_clear_error(server: Restartable) -> None:
    async with coredis.Redis.from_url(server.url, decode_responses=True) as r:
        await r.xadd("in", {"n": "0"})

    async def stop_soon() -> None:
        await anyio.sleep(0.5)
        await anyio.to_thread.run_sync(server.stop)

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_soon)
        with pytest.raises(ConnectionError) as info:
            await from_redis_stream(
                server.url, "in", group="g", consumer="w", block=0.1, reconnect=1.0
            ).collect()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("from_redis_stream: lost the connection to Redis at")
    assert f"127.0.0.1:{server.port}" in message
    assert "reconnect=1" in message
    assert time.monotonic() - started < 15


async def test_reconnect_zero_fails_at_the_first_loss(server: Restartable) -> None:
    async def stop_soon() -> None:
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(server.stop)

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_soon)
        with pytest.raises(coredis.exceptions.ConnectionError) as info:
            await from_redis_stream(
                server.url, "in", group="g", consumer="w", block=0.1, reconnect=0
            ).collect()
    assert "could not reconnect" not in str(info.value)  # coredis's own error, as before


def test_describe_masks_the_password() -> None:
    assert describe("redis://alice:s3cret@h:1/0") == "redis://alice:***@h:1/0"


def test_bad_reconnect_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"from_redis_stream\(\): reconnect must be a finite"):
        from_redis_stream("redis://x", "s", group="g", consumer="c", reconnect=-1)
    with pytest.raises(TypeError, match=r"to_redis_stream\(\): reconnect must be a number"):
        to_redis_stream("redis://x", "s", reconnect="30")  # type: ignore[arg-type]
