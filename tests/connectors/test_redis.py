"""Redis Streams connector against a real redis-server (see conftest.py), asyncio and trio.

Every test here talks to a real server over real sockets, so it runs on the real clock:
a virtual clock would jump over network waits and fire timeouts at once.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import zlib
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anystream as a
from anystream._core.source import TaskSource
from anystream.connectors.redis import (
    RedisEntry,
    from_redis_stream,
    partition_for,
    partition_streams,
    stable_hash,
    to_redis_stream,
)

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]

try:
    import coredis
except ImportError:  # the redis_server fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


async def _client(url: str) -> Any:
    return coredis.Redis.from_url(url, decode_responses=True)


async def _pending(url: str, stream: str, group: str) -> int:
    async with await _client(url) as r:
        info = await r.xpending(stream, group)
        return int(info.pending)


async def _add(url: str, stream: str, n: int, start: int = 0) -> None:
    async with await _client(url) as r, r.pipeline(transaction=False) as p:
        for i in range(start, start + n):
            p.xadd(stream, {"n": str(i)})


def same(entry: RedisEntry) -> RedisEntry:
    return entry


# -- partitioning (no server) ----------------------------------------------------------------


def test_stable_hash_is_crc32_and_the_same_in_another_process() -> None:
    assert stable_hash("abc") == zlib.crc32(b"abc")
    assert stable_hash(b"abc") == zlib.crc32(b"abc")
    assert stable_hash(42) == zlib.crc32(b"42")
    code = "from anystream.connectors.redis import partition_for; print(partition_for('user-7', 5))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert outs == {str(partition_for("user-7", 5))}
    assert partition_streams("ev", 3) == ["ev:0", "ev:1", "ev:2"]


def test_bad_arguments_name_the_argument() -> None:
    url = "redis://127.0.0.1:1"
    with pytest.raises(ValueError, match="key and partitions"):
        to_redis_stream(url, "s", partitions=3)
    with pytest.raises(ValueError, match="partitions"):
        to_redis_stream(url, "s", key=str, partitions=0)
    with pytest.raises(TypeError, match="key must be callable"):
        to_redis_stream(url, "s", key="id", partitions=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maxlen"):
        to_redis_stream(url, "s", maxlen=0)
    with pytest.raises(TypeError, match="stream must be"):
        to_redis_stream(url, "")
    with pytest.raises(TypeError, match="client_or_url"):
        to_redis_stream(42, "s")
    with pytest.raises(TypeError, match="group"):
        from_redis_stream(url, "s", group="", consumer="c")
    with pytest.raises(TypeError, match="streams"):
        from_redis_stream(url, [], group="g", consumer="c")
    with pytest.raises(ValueError, match="twice"):
        from_redis_stream(url, ["a", "a"], group="g", consumer="c")
    with pytest.raises(ValueError, match="batch"):
        from_redis_stream(url, "s", group="g", consumer="c", batch=0)
    with pytest.raises(ValueError, match="claim_idle"):
        from_redis_stream(url, "s", group="g", consumer="c", claim_idle=-1)
    with pytest.raises(TypeError, match="block"):
        from_redis_stream(url, "s", group="g", consumer="c", block="1")  # type: ignore[arg-type]


# -- round trips -------------------------------------------------------------------------------


async def test_partitioned_write_then_group_read_acks_everything(redis_url: str) -> None:
    items = [{"n": str(i), "user": str(i % 7)} for i in range(500)]
    written = await (
        a.from_iterable(items)
        | to_redis_stream(redis_url, "ev", key=lambda d: d["user"], partitions=3)
    ).collect()
    assert [dict(e.fields) for e in written] == items
    for entry in written:  # one user, one partition, the same one in every process
        assert entry.stream == f"ev:{partition_for(entry.fields['user'], 3)}"
    streams = partition_streams("ev", 3)
    source = from_redis_stream(
        redis_url, streams, group="g", consumer="c1", block=0.05, idle_stop=0.3
    )
    got = await (source | a.map(lambda e: int(e.fields["n"]))).collect()
    assert sorted(got) == list(range(500))
    for stream in streams:
        assert await _pending(redis_url, stream, "g") == 0


async def test_entries_carry_stream_and_id(redis_url: str) -> None:
    await _add(redis_url, "s", 3)
    got = await (
        from_redis_stream(redis_url, "s", group="g", consumer="c", block=0.05, idle_stop=0.2)
        | a.map(same)
    ).collect()
    assert [e.fields["n"] for e in got] == ["0", "1", "2"]
    assert all(isinstance(e, RedisEntry) and e.stream == "s" and "-" in e.id for e in got)


async def test_filtered_and_malformed_items_are_acknowledged(redis_url: str) -> None:
    await _add(redis_url, "s", 50)
    async with await _client(redis_url) as r:
        await r.xadd("s", {"other": "x"})  # no "n": parse counts it malformed
    stream = (
        from_redis_stream(redis_url, "s", group="g", consumer="c", block=0.05, idle_stop=0.3)
        | a.parse(lambda e: int(e.fields["n"]))
        | a.where(lambda n: n % 2 == 0)
    )
    assert await stream.collect() == list(range(0, 50, 2))
    assert await _pending(redis_url, "s", "g") == 0


async def test_staged_pipeline_and_redis_sink_propagate_acks(redis_url: str) -> None:
    await _add(redis_url, "in", 300)

    async def slow(e: RedisEntry) -> dict[str, str]:
        await anyio.lowlevel.checkpoint()
        return {"n": e.fields["n"], "from": e.id}

    stream = (
        from_redis_stream(redis_url, "in", group="g", consumer="c", block=0.05, idle_stop=0.3)
        | a.buffered(20)
        | a.map_async(slow, concurrency=8)
        | to_redis_stream(redis_url, "out", maxlen=10_000)
    )
    out = await stream.collect()
    assert sorted(int(e.fields["n"]) for e in out) == list(range(300))
    assert await _pending(redis_url, "in", "g") == 0
    async with await _client(redis_url) as r:
        assert await r.xlen("out") == 300


async def test_dead_lettered_items_are_acknowledged(redis_url: str) -> None:
    await _add(redis_url, "s", 20)
    letters = a.DeadLetters()

    async def fail_on_odd(e: RedisEntry) -> int:
        n = int(e.fields["n"])
        if n % 2:
            raise RuntimeError(f"odd {n}")
        return n

    stream = from_redis_stream(
        redis_url, "s", group="g", consumer="c", block=0.05, idle_stop=0.3
    ) | a.map_async(fail_on_odd, concurrency=4, on_error=letters)
    assert sorted(await stream.collect()) == list(range(0, 20, 2))
    assert len(list(letters)) == 10
    assert await _pending(redis_url, "s", "g") == 0


# -- at-least-once: abort, restart, claim, stop --------------------------------------------------


async def test_abort_leaves_unhandled_entries_pending_and_a_restart_rereads_them(
    redis_url: str,
) -> None:
    await _add(redis_url, "s", 100)
    source = from_redis_stream(redis_url, "s", group="g", consumer="c", block=0.05, idle_stop=0.3)
    seen: list[int] = []
    async with (source | a.buffered(10)).stream() as run:
        async for entry in run:
            seen.append(int(entry.fields["n"]))
            if len(seen) == 30:
                break  # leaving early is an abort: what is in flight is not acknowledged
    # Only the 29 items whose loop body completed may have been acknowledged (the ack
    # loop sends them while the run goes on; those acknowledged at the abort itself may
    # be lost with the run's connection, which only means they are redelivered).
    pending = await _pending(redis_url, "s", "g")
    assert pending >= 100 - 29
    # The same consumer restarting first re-reads its own pending entries.
    again = await (source | a.map(lambda e: int(e.fields["n"]))).collect()
    assert len(again) == pending
    assert sorted(set(seen[:29]) | set(again)) == list(range(100))
    assert await _pending(redis_url, "s", "g") == 0


async def test_graceful_stop_acks_everything_handed_over(redis_url: str) -> None:
    await _add(redis_url, "s", 2000)
    source = from_redis_stream(redis_url, "s", group="g", consumer="c", batch=50, block=0.2)
    seen = 0
    started = 0.0
    async with (source | a.buffered(20)).stream() as run:
        async for _ in run:
            seen += 1
            if seen == 100:
                run.stop()
                started = anyio.current_time()
    assert anyio.current_time() - started < 2.0
    assert 100 <= seen < 2000
    assert await _pending(redis_url, "s", "g") == 0
    async with await _client(redis_url) as r:
        groups = await r.xinfo_groups("s")
        assert groups[0]["entries-read"] == seen  # read exactly what was handed over


async def test_entries_of_a_dead_consumer_are_claimed(redis_url: str) -> None:
    await _add(redis_url, "s", 40)
    async with await _client(redis_url) as r:
        await r.xgroup_create("s", "g", identifier="0")
        # "dead" reads 25 entries and never acknowledges them.
        await r.xreadgroup("g", "dead", {"s": ">"}, count=25)
    got = await (
        from_redis_stream(
            redis_url, "s", group="g", consumer="alive", block=0.05, claim_idle=0.3,
            claim_interval=0.1, idle_stop=1.0,
        )
        | a.map(lambda e: int(e.fields["n"]))
    ).collect()  # fmt: skip
    assert sorted(got) == list(range(40))
    assert await _pending(redis_url, "s", "g") == 0


async def test_entries_in_own_pipeline_are_not_claimed_twice(redis_url: str) -> None:
    await _add(redis_url, "s", 5)

    async def slow(e: RedisEntry) -> str:
        await anyio.sleep(0.4)  # longer than claim_idle: the claim sees them pending
        return e.id

    got = await (
        from_redis_stream(
            redis_url, "s", group="g", consumer="c", block=0.05, claim_idle=0.1,
            claim_interval=0.05, idle_stop=0.5,
        )
        | a.map_async(slow, concurrency=5)
    ).collect()  # fmt: skip
    assert len(got) == len(set(got)) == 5


# -- bad input ---------------------------------------------------------------------------------


async def test_unreachable_server_is_a_quick_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot connect to Redis"):
        await from_redis_stream(
            f"redis://127.0.0.1:{port}", "s", group="g", consumer="c", connect_timeout=1.0
        ).collect()
    with pytest.raises(ConnectionError, match="cannot connect to Redis"):
        await (a.just({"a": 1}) | to_redis_stream(f"redis://127.0.0.1:{port}", "s")).collect()
    assert time.monotonic() - start < 5


async def test_a_server_that_never_answers_is_a_connection_error_not_a_hang() -> None:
    with socket.socket() as listener:  # accepts TCP connections, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(ConnectionError, match=r"within 0\.5 s"):
            await from_redis_stream(
                f"redis://127.0.0.1:{port}", "s", group="g", consumer="c", connect_timeout=0.5
            ).collect()
        assert time.monotonic() - start < 5


async def test_wrong_key_type_and_missing_group(redis_url: str) -> None:
    async with await _client(redis_url) as r:
        await r.set("plain", "x")
    with pytest.raises(TypeError, match="'plain' holds a Redis string, not a stream"):
        await from_redis_stream(redis_url, "plain", group="g", consumer="c").collect()
    await _add(redis_url, "s", 1)
    with pytest.raises(LookupError, match="consumer group 'typo' does not exist"):
        await from_redis_stream(
            redis_url, "s", group="typo", consumer="c", create_group=False
        ).collect()
    with pytest.raises(LookupError, match="does not exist"):
        await from_redis_stream(
            redis_url, "absent", group="g", consumer="c", create_group=False
        ).collect()


async def test_writing_to_a_key_of_another_type_names_the_operator(redis_url: str) -> None:
    async with await _client(redis_url) as r:
        await r.set("plain", "x")
    with pytest.raises(coredis.exceptions.WrongTypeError) as info:
        await (a.just({"a": 1}) | to_redis_stream(redis_url, "plain")).collect()
    assert any("to_redis_stream('plain')" in note for note in info.value.__notes__)


async def test_unconvertible_item_is_a_clear_type_error(redis_url: str) -> None:
    with pytest.raises(TypeError, match="pass fields="):
        await (a.just(42) | to_redis_stream(redis_url, "s")).collect()
    out = await (a.just(42) | to_redis_stream(redis_url, "s", fields=lambda n: {"n": n})).collect()
    assert out[0].fields == {"n": "42"}


async def test_malformed_entry_is_an_error_or_a_dead_letter(redis_url: str) -> None:
    await _add(redis_url, "s", 3)
    async with coredis.Redis.from_url(redis_url) as r:
        await r.xadd("s", {b"line": b"\xff\xfe not utf-8"})
    await _add(redis_url, "s", 2, start=3)
    with pytest.raises(ValueError, match=r"malformed .*dead_letter="):
        await (
            from_redis_stream(redis_url, "s", group="g", consumer="c", block=0.05) | a.map(same)
        ).collect()
    got = await (
        from_redis_stream(
            redis_url, "s", group="g", consumer="c", block=0.05, idle_stop=0.3, dead_letter="dead"
        )
        | a.map(same)
    ).collect()
    # The first run's 3 good entries reached its collect() list, so they were acknowledged
    # (collect() acknowledges as it goes, and the abort still flushes what was handled).
    assert sorted(e.fields["n"] for e in got) == ["3", "4"]
    assert await _pending(redis_url, "s", "g") == 0
    async with coredis.Redis.from_url(redis_url) as r:
        letters = await r.xrange("dead")
        assert len(letters) == 1
        fields = letters[0].field_values
        assert fields[b"stream"] == b"s"
        assert b"utf-8" in fields[b"error"]
        assert fields[b"line"] == b"\xff\xfe not utf-8"


async def test_a_given_client_is_used_as_is(redis_url: str) -> None:
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as r:
        await (a.range(5) | to_redis_stream(r, "s", fields=lambda n: {"n": n})).collect()
        got = await (
            from_redis_stream(r, "s", group="g", consumer="c", block=0.05, idle_stop=0.2)
            | a.map(same)
        ).collect()
        assert [e.fields["n"] for e in got] == ["0", "1", "2", "3", "4"]
        assert await r.ping() == "PONG"  # still open: we did not close the caller's client


async def test_core_acknowledged_task_source_without_steps() -> None:
    """Core bug, no Redis needed: a bare acknowledged TaskSource cannot be collected.

    runner.py ``_build_final`` builds the final segment with ``is_source=True`` when the
    stream has no steps and a TaskSource, but ``__aenter__`` always puts an empty source
    segment and a rendezvous in front of a lone segment, and that segment already turned
    the Acked items into (value, token) pairs; the final one wraps them again and raises
    "an acknowledged source must yield anystream.Acked items, got tuple". So
    ``from_redis_stream(...).collect()`` fails while ``(... | map(f)).collect()`` works.
    """
    acked: list[int] = []

    async def run(tx: Any, stop: Any) -> None:
        for i in range(3):
            await tx.send(a.Acked(i, functools.partial(acked.append, i)))

    got = await a.Stream(TaskSource(run, "t", acknowledged=True)).collect()
    assert got == [0, 1, 2]
    assert acked == [0, 1, 2]


async def test_core_delivered_item_is_acked_when_the_consumer_asks_for_the_next() -> None:
    """Core bug, no Redis needed: the last delivered item is not acked while the source idles.

    acks.py ``tracked_loop``/``generate()`` calls ``previous.done()`` only when the *next*
    pair arrives from upstream, not when the consumer comes back for the next item as the
    contract says. With a quiet source (a Redis stream with nothing new) the last entry
    stays unacknowledged, so other consumers' XAUTOCLAIM takes it over after claim_idle
    and it is processed twice. Fix: call ``token.done()`` right after ``yield y`` resumes.
    """
    acked: list[int] = []
    seen_at_ask: list[int] = []
    release = anyio.Event()

    async def run(tx: Any, stop: Any) -> None:
        await tx.send(a.Acked(1, functools.partial(acked.append, 1)))
        await release.wait()

    async def later() -> None:
        await anyio.sleep(0.5)  # the consumer is waiting for the next item by now
        seen_at_ask.extend(acked)
        release.set()

    stream = a.Stream(TaskSource(run, "t", acknowledged=True)) | a.map(same_value)
    async with anyio.create_task_group() as tg, stream.stream() as items:
        async for _ in items:
            tg.start_soon(later)
    assert seen_at_ask == [1]


def same_value(x: int) -> int:
    return x


# -- credentials -------------------------------------------------------------------------------


def test_masked_url_hides_the_password_only() -> None:
    from anystream.connectors._redis_client import masked_url

    assert masked_url("redis://alice:s3cret@h:6379/0") == "redis://alice:***@h:6379/0"
    assert masked_url("rediss://:s3cret@h:6380") == "rediss://:***@h:6380"
    assert masked_url("redis://h:6379") == "redis://h:6379"
    assert masked_url("redis://alice@h") == "redis://alice@h"
    # a percent-encoded password holding '@' and ':' goes whole
    assert masked_url("redis://bob:p%40ss%3Aw@h:1") == "redis://bob:***@h:1"


async def test_acl_user_with_a_percent_encoded_password(redis_server: Any) -> None:
    from urllib.parse import quote

    from tests.connectors.conftest import command

    command(redis_server.port, "FLUSHALL")
    password = "p@ss:w/rd#1%"
    command(redis_server.port, "ACL", "SETUSER", "alice", "reset", "on", f">{password}")
    command(redis_server.port, "ACL", "SETUSER", "alice", "~*", "&*", "+@all")
    try:
        url = f"redis://alice:{quote(password, safe='')}@127.0.0.1:{redis_server.port}"
        written = await (
            a.from_iterable([{"n": str(i)} for i in range(20)]) | to_redis_stream(url, "acl")
        ).collect()
        assert len(written) == 20
        got = await (
            from_redis_stream(url, "acl", group="g", consumer="c", block=0.05, idle_stop=0.3)
            | a.map(lambda e: int(e.fields["n"]))
        ).collect()
        assert sorted(got) == list(range(20))
        assert await _pending(redis_server.url, "acl", "g") == 0

        wrong = f"redis://alice:{quote('n0t-' + password, safe='')}@127.0.0.1:{redis_server.port}"
        with pytest.raises(PermissionError, match="refused the credentials") as info:
            await from_redis_stream(wrong, "acl", group="g", consumer="c").collect()
        assert "n0t-" not in repr(info.value)
        assert "n0t-" not in str(info.value)
        assert "alice:***@" in str(info.value)
        with pytest.raises(PermissionError, match="refused the credentials") as info:
            await (a.just({"a": 1}) | to_redis_stream(wrong, "acl")).collect()
        assert "n0t-" not in str(info.value)
    finally:
        command(redis_server.port, "ACL", "DELUSER", "alice")


async def test_connection_errors_mask_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"redis://alice:hunter2@127.0.0.1:{port}"
    with pytest.raises(ConnectionError) as info:
        await from_redis_stream(url, "s", group="g", consumer="c", connect_timeout=1.0).collect()
    assert "hunter2" not in str(info.value)
    assert "alice:***@" in str(info.value)
    with pytest.raises(ConnectionError) as info:
        await (a.just({"a": 1}) | to_redis_stream(url, "s", connect_timeout=1.0)).collect()
    assert "hunter2" not in str(info.value)
