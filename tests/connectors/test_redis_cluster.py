"""The Redis connector against a real 3-primary Redis Cluster (redis_cluster_fixture.py).

Round trips over partitions spread on all three primaries, acknowledgements per stream
(abort and restart, claiming from a dead consumer), the delivery limit and dead letters,
a given ``coredis.RedisCluster`` client, and the errors of bad cluster URLs. Real clock
(see test_redis.py); asyncio and trio.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anystream as a
from anystream.connectors._redis_client import describe
from anystream.connectors._redis_cluster import key_slot, nodes_of, release_cluster
from anystream.connectors.redis import (
    RedisEntry,
    from_redis_stream,
    partition_for,
    partition_streams,
    to_redis_stream,
)

_spec = importlib.util.spec_from_file_location(
    "anystream_redis_cluster_fixture", Path(__file__).parent / "redis_cluster_fixture.py"
)
assert _spec is not None
assert _spec.loader is not None
_fixture = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixture
_spec.loader.exec_module(_fixture)
redis_cluster = _fixture.redis_cluster
redis_cluster_url = _fixture.redis_cluster_url
node_of = _fixture.node_of

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock, pytest.mark.timeout(120)]

try:
    import coredis
except ImportError:  # the fixture skips, or fails with ANYSTREAM_REQUIRE_REDIS=1
    coredis = None  # type: ignore[assignment]


@asynccontextmanager
async def _client(url: str, *, decode: bool = True) -> AsyncIterator[Any]:
    """A cluster client (decoded replies) for checking what the operators did."""
    nodes = url.removeprefix("redis+cluster://").split(",")
    client = coredis.RedisCluster(
        startup_nodes=[coredis.connection.TCPLocation("127.0.0.1", int(n.split(":")[1]))
                       for n in nodes],
        decode_responses=decode,
    )  # fmt: skip
    try:
        async with client:
            yield client
    finally:
        release_cluster(client)  # coredis 6.9 leaves a memory stream open otherwise


async def _pending(r: Any, stream: str, group: str) -> int:
    return int((await r.xpending(stream, group)).pending)


async def _fill(r: Any, streams: list[str], n: int) -> None:
    """``n`` entries ``{"n": i}`` round-robin over ``streams`` (one pipeline, all nodes)."""
    async with r.pipeline(transaction=False) as p:
        for i in range(n):
            p.xadd(streams[i % len(streams)], {"n": str(i)})


# -- slots and partition names -------------------------------------------------------------


def test_key_slot_is_what_the_cluster_says(redis_cluster: Any) -> None:
    port = redis_cluster.ports[0]
    keys = [
        "s",
        "ev:{0}",
        "{user1}:a",
        "a{}b",
        "{",
        "x{y",
        "ünïcode",
        *partition_streams("ev", 6, cluster=True),
    ]
    for key in keys:
        reply = _fixture.command(port, "CLUSTER", "KEYSLOT", key)
        assert key_slot(key) == int(reply[1:].split(b"\r\n")[0]), key


def test_cluster_partitions_spread_over_all_primaries(redis_cluster: Any) -> None:
    ports = redis_cluster.ports
    three = partition_streams("ev", 3, cluster=True)
    assert sorted(node_of(ports, name) for name in three) == sorted(ports)
    six = partition_streams("ev", 6, cluster=True)
    owners = [node_of(ports, name) for name in six]
    assert sorted(owners) == sorted(ports * 2)  # two per primary
    assert len({key_slot(name) for name in six}) == 6
    assert all(name.startswith("ev:{") and name.endswith("}") for name in six)
    # The same names in every process, and not the single-server ones.
    assert partition_streams("ev", 6, cluster=True) == six
    assert partition_streams("ev", 3) == ["ev:0", "ev:1", "ev:2"]


def test_cluster_partition_names_bad_input() -> None:
    with pytest.raises(ValueError, match="hash tag"):
        partition_streams("{ev}", 3, cluster=True)
    with pytest.raises(ValueError, match="at most 512 partitions"):
        partition_streams("ev", 513, cluster=True)
    with pytest.raises(ValueError, match="partitions"):
        partition_streams("ev", 0, cluster=True)


# -- round trips -------------------------------------------------------------------------------


async def test_partitioned_write_then_group_read_over_three_primaries(
    redis_cluster_url: str, redis_cluster: Any
) -> None:
    items = [{"n": str(i), "user": f"u{i % 30}"} for i in range(600)]
    written = await (
        a.from_iterable(items)
        | to_redis_stream(redis_cluster_url, "ev", key=lambda d: d["user"], partitions=3)
    ).collect()
    streams = partition_streams("ev", 3, cluster=True)
    assert [dict(e.fields) for e in written] == items
    for entry in written:  # one user, one partition: the cluster-named one
        assert entry.stream == streams[partition_for(entry.fields["user"], 3)]
    # Every primary holds a partition, and every partition got entries.
    assert sorted(node_of(redis_cluster.ports, s) for s in streams) == sorted(redis_cluster.ports)
    assert {e.stream for e in written} == set(streams)
    source = from_redis_stream(
        redis_cluster_url, streams, group="g", consumer="c1", block=0.05, idle_stop=0.5
    )
    got = await (source | a.map(lambda e: (e.stream, int(e.fields["n"])))).collect()
    assert sorted(n for _, n in got) == list(range(600))
    by_n = {e.fields["n"]: e.stream for e in written}
    assert all(by_n[str(n)] == stream for stream, n in got)  # read from where it was written
    async with _client(redis_cluster_url) as r:
        for stream in streams:
            assert await _pending(r, stream, "g") == 0


async def test_a_given_cluster_client_is_used_as_is(redis_cluster_url: str) -> None:
    streams = partition_streams("in", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 90)
        out = await (
            from_redis_stream(r, streams, group="g", consumer="c", block=0.05, idle_stop=0.4)
            | a.map(lambda e: {"n": e.fields["n"], "from": e.stream})
            | to_redis_stream(r, "out", key=lambda d: d["n"], partitions=3)
        ).collect()
        assert sorted(int(e.fields["n"]) for e in out) == list(range(90))
        for stream in streams:
            assert await _pending(r, stream, "g") == 0
        targets = partition_streams("out", 3, cluster=True)
        assert sum([await r.xlen(s) for s in targets]) == 90
        assert describe(r).startswith("cluster 127.0.0.1:")
        assert await r.ping()  # still open: the operators did not close it


async def test_multi_key_script_in_one_slot_and_nodes_of(redis_cluster_url: str) -> None:
    streams = partition_streams("ev", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        assert len(set(nodes_of(r, streams).values())) == 3
        # Keys sharing a hash tag are one slot: one script may touch them together.
        got = await r.eval(
            "redis.call('SADD', KEYS[1], 'x'); return redis.call('XADD', KEYS[2], '*', 'a', 1)",
            keys=["{demo}:seen", "{demo}:sink"],
            args=[],
        )
        assert "-" in got


# -- acknowledgements per stream ------------------------------------------------------------------


async def test_abort_then_restart_rereads_own_pending_on_every_node(
    redis_cluster_url: str,
) -> None:
    streams = partition_streams("s", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 150)
        source = from_redis_stream(
            redis_cluster_url, streams, group="g", consumer="c", batch=20, block=0.05,
            idle_stop=0.4,
        )  # fmt: skip
        seen: list[int] = []
        async with (source | a.buffered(10)).stream() as run:
            async for entry in run:
                seen.append(int(entry.fields["n"]))
                if len(seen) == 40:
                    break  # an abort: what is in flight stays pending
        # In flight at the abort (read, not acknowledged): pending on their own nodes.
        pending = sum([await _pending(r, s, "g") for s in streams])
        assert pending > 0
        rerun = await (source | a.map(lambda e: (int(e.fields["n"]), e.deliveries))).collect()
        again = [n for n, _ in rerun]
        # Only the 39 whose loop body completed may have been acknowledged; the restart
        # re-reads the pending ones first (their second delivery), then the unread ones.
        assert len(again) >= 150 - 39
        assert sum(1 for _, d in rerun if d == 2) == pending
        assert sorted(set(seen[:39]) | set(again)) == list(range(150))
        for stream in streams:
            assert await _pending(r, stream, "g") == 0


async def test_entries_of_a_dead_consumer_are_claimed_on_every_node(
    redis_cluster_url: str,
) -> None:
    streams = partition_streams("s", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 60)
        for stream in streams:
            await r.xgroup_create(stream, "g", identifier="0")
            # "dead" reads 10 entries of each partition and never acknowledges them.
            assert await r.xreadgroup("g", "dead", {stream: ">"}, count=10)
        got = await (
            from_redis_stream(
                r, streams, group="g", consumer="alive", block=0.05, claim_idle=0.3,
                claim_interval=0.1, idle_stop=1.0,
            )
            | a.map(lambda e: (int(e.fields["n"]), e.deliveries))
        ).collect()  # fmt: skip
        assert sorted(n for n, _ in got) == list(range(60))
        assert sum(1 for _, d in got if d == 2) == 30  # the claimed ones: second delivery
        for stream in streams:
            assert await _pending(r, stream, "g") == 0


async def test_collect_acknowledges_on_every_node_while_the_run_goes_on(
    redis_cluster_url: str,
) -> None:
    streams = partition_streams("s", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 60)
        seen_pending: list[int] = []

        async def slow(entry: RedisEntry) -> int:
            n = int(entry.fields["n"])
            if n == 50:  # by now the first ones were acknowledged, on their own nodes
                await anyio.sleep(0.3)
                seen_pending.append(sum([await _pending(r, s, "g") for s in streams]))
            await anyio.lowlevel.checkpoint()
            return n

        got = await (
            from_redis_stream(
                redis_cluster_url, streams, group="g", consumer="c", batch=5, block=0.05,
                idle_stop=0.5,
            )
            | a.map_async(slow)
        ).collect()  # fmt: skip
        assert sorted(got) == list(range(60))
        assert seen_pending
        assert seen_pending[0] < 30
        for stream in streams:
            assert await _pending(r, stream, "g") == 0


async def test_slow_live_workers_over_a_cluster_do_not_steal_from_each_other(
    redis_cluster_url: str,
) -> None:
    # 3 workers, 3 partitions on 3 nodes, a 50 ms stage and claim_idle=2: each worker
    # holds far more than it finishes in 2 s; the heartbeat (per stream, on its node)
    # keeps those entries from looking idle to the others.
    streams = partition_streams("p", 3, cluster=True)
    n = 900
    processed: list[int] = []
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, n)

        async def stage(entry: RedisEntry) -> int:
            await anyio.sleep(0.05)
            processed.append(int(entry.fields["n"]))
            return int(entry.fields["n"])

        async def worker(name: str) -> None:
            await (
                from_redis_stream(
                    redis_cluster_url, streams, group="g", consumer=name, block=0.1,
                    claim_idle=2.0, claim_interval=0.25, idle_stop=1.0,
                )
                | a.buffered(50)
                | a.map_async(stage, concurrency=5)
            ).collect()  # fmt: skip

        with anyio.fail_after(100):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(worker, f"w{i}")
        assert len(processed) == n, f"{len(processed) - len(set(processed))} processed twice"
        assert sorted(processed) == list(range(n))
        for stream in streams:
            assert await _pending(r, stream, "g") == 0


async def test_idle_consumers_are_removed_from_every_partition(redis_cluster_url: str) -> None:
    streams = partition_streams("s", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 6)
        for stream in streams:
            await r.xgroup_create(stream, "g", identifier="0")
            # "stale" read one entry of each partition and acknowledged it.
            reply = await r.xreadgroup("g", "stale", {stream: ">"}, count=1)
            assert reply is not None
            await r.xack(stream, "g", [entry.identifier for entry in reply[stream]])
        assert await r.xreadgroup("g", "holder", {streams[0]: ">"}, count=1)  # keeps one
        await anyio.sleep(0.4)
        entries = await from_redis_stream(
            r, streams, group="g", consumer="w", block=0.05, claim_idle=60,
            claim_interval=0.1, delete_idle_consumers=0.2, idle_stop=0.5,
        ).collect()  # fmt: skip
        assert len(entries) == 6 - 3 - 1
        for stream in streams:
            names = {str(info["name"]) for info in await r.xinfo_consumers(stream, "g")}
            assert names == ({"holder", "w"} if stream == streams[0] else {"w"})


# -- dead letters ----------------------------------------------------------------------------------


class Poisoned(RuntimeError):
    pass


async def test_poison_entry_is_dead_lettered_in_its_slot_and_the_rest_proceeds(
    redis_cluster_url: str,
) -> None:
    streams = partition_streams("s", 3, cluster=True)
    done: set[int] = set()

    async def process(entry: RedisEntry) -> int:
        if "poison" in entry.fields:
            raise Poisoned(entry.id)
        await anyio.lowlevel.checkpoint()
        done.add(int(entry.fields["n"]))
        return int(entry.fields["n"])

    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 60)
        poison_id = await r.xadd(streams[1], {"poison": "1"})
        source = from_redis_stream(
            redis_cluster_url, streams, group="g", consumer="w", batch=10, block=0.05,
            idle_stop=0.4, max_deliveries=2,
        )  # fmt: skip
        failures = 0
        with anyio.fail_after(90):
            for _restart in range(6):  # a supervisor restarting the same worker
                try:
                    await (source | a.map_async(process)).collect()
                except Poisoned:
                    failures += 1
                    continue
                break
        assert failures == 2
        assert done == set(range(60))
        for stream in streams:
            assert await _pending(r, stream, "g") == 0
        # The default dead-letter stream "<stream>:dead" shares the partition's slot.
        dead = f"{streams[1]}:dead"
        assert key_slot(dead) == key_slot(streams[1])
        letters = await r.xrange(dead)
        assert len(letters) == 1
        assert letters[0].field_values["id"] == poison_id
        assert letters[0].field_values["stream"] == streams[1]
        assert letters[0].field_values["reason"] == "max_deliveries"


async def test_error_policy_dead_letters_go_to_one_stream_on_another_node(
    redis_cluster_url: str, redis_cluster: Any
) -> None:
    streams = partition_streams("s", 3, cluster=True)

    async def fail_on_odd(entry: RedisEntry) -> int:
        n = int(entry.fields["n"])
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    letters: a.DeadLetters[Any] = a.DeadLetters()
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 30)
        got = await (
            from_redis_stream(
                redis_cluster_url, streams, group="g", consumer="w", block=0.05,
                idle_stop=0.4, dead_letter_stream="dlq",
            )
            | a.map_async(fail_on_odd, concurrency=3, on_error=letters)
        ).collect()  # fmt: skip
        assert sorted(got) == list(range(0, 30, 2))
        written = await r.xrange("dlq")
        assert sorted(int(e.field_values["n"]) for e in written) == list(range(1, 30, 2))
        assert {e.field_values["stream"] for e in written} == set(streams)
        for stream in streams:
            assert await _pending(r, stream, "g") == 0
    # "dlq" is one key: on one node, while the letters came from all three.
    assert node_of(redis_cluster.ports, "dlq") in redis_cluster.ports


async def test_malformed_entry_on_a_cluster_is_one_clear_error(redis_cluster_url: str) -> None:
    streams = partition_streams("s", 3, cluster=True)
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, 9)
    async with _client(redis_cluster_url, decode=False) as raw:
        await raw.xadd(streams[2], {b"line": b"\xff\xfe"})
    # One failing reader of three: the error itself, not a group of cancelled readers.
    with pytest.raises(ValueError, match="is malformed"):
        await from_redis_stream(
            redis_cluster_url, streams, group="g", consumer="c", block=0.05, idle_stop=0.4
        ).collect()


# -- bad input -------------------------------------------------------------------------------------


async def test_bad_cluster_urls_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="host:port nodes separated by commas"):
        await from_redis_stream("redis+cluster://127.0.0.1", "s", group="g", consumer="c").collect()
    with pytest.raises(ValueError, match="no database number"):
        await (a.just({"a": 1}) | to_redis_stream("redis+cluster://127.0.0.1:1/2", "s")).collect()
    with pytest.raises(ValueError, match="TLS to a cluster") as info:
        await from_redis_stream(
            "rediss+cluster://u:secret@127.0.0.1:1", "s", group="g", consumer="c"
        ).collect()
    assert "secret" not in str(info.value)


async def test_unreachable_cluster_is_a_quick_connection_error_naming_every_node() -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])  # nothing listens there once closed
    url = f"redis+cluster://alice:pw%40x@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}"
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="any node of the Redis Cluster") as info:
        await from_redis_stream(url, "s", group="g", consumer="c", connect_timeout=1).collect()
    assert all(str(p) in str(info.value) for p in ports)
    assert "pw" not in str(info.value)
    with pytest.raises(ConnectionError, match="any node of the Redis Cluster"):
        await (a.just({"a": 1}) | to_redis_stream(url, "s", connect_timeout=1)).collect()
    assert time.monotonic() - start < 5


async def test_a_plain_url_to_a_cluster_node_says_to_use_a_cluster_url(
    redis_cluster_url: str, redis_cluster: Any
) -> None:
    node = f"redis://127.0.0.1:{redis_cluster.ports[0]}"
    streams = partition_streams("s", 3, cluster=True)  # two of them served elsewhere
    with pytest.raises(ValueError, match=r"node of a Redis Cluster .*redis\+cluster://"):
        await from_redis_stream(node, streams, group="g", consumer="c").collect()
    with pytest.raises(ValueError, match=r"node of a Redis Cluster .*redis\+cluster://"):
        await (
            a.from_iterable([{"n": str(i)} for i in range(30)])
            | to_redis_stream(node, "s", key=lambda d: d["n"], partitions=3)
        ).collect()


# -- lost connections ------------------------------------------------------------------------------


async def test_source_and_sink_ride_out_dropped_connections_on_every_node(
    redis_cluster_url: str, redis_cluster: Any
) -> None:
    streams = partition_streams("in", 3, cluster=True)
    n = 600
    async with _client(redis_cluster_url) as r:
        await _fill(r, streams, n)

    async def slow(entry: RedisEntry) -> dict[str, str]:
        await anyio.sleep(0.003)
        return {"n": entry.fields["n"]}

    def kill_clients() -> None:
        # Every node drops every client connection but the killer's own (SKIPME).
        for port in redis_cluster.ports:
            killed = _fixture.command(port, "CLIENT", "KILL", "TYPE", "normal")
            assert killed.startswith(b":"), killed

    async def drop_twice() -> None:
        for _ in range(2):
            await anyio.sleep(0.4)
            await anyio.to_thread.run_sync(kill_clients)

    stream = (
        from_redis_stream(
            redis_cluster_url, streams, group="g", consumer="w", batch=20, block=0.1,
            idle_stop=1.5, reconnect=20,
        )
        | a.map_async(slow, concurrency=2)
        | to_redis_stream(redis_cluster_url, "out", key=lambda d: d["n"], partitions=3)
    )  # fmt: skip
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(drop_twice)
            written = await stream.collect()
    # Who recovers varies: coredis's cluster client retries a command on a fresh
    # connection by itself, the operators reconnect (counted as retried) when that fails.
    assert {e.fields["n"] for e in written} == {str(i) for i in range(n)}
    async with _client(redis_cluster_url) as r:
        for stream_name in streams:
            assert await _pending(r, stream_name, "g") == 0
        out = set()
        for name in partition_streams("out", 3, cluster=True):
            out |= {e.field_values["n"] for e in await r.xrange(name)}
        assert out == {str(i) for i in range(n)}


async def test_a_node_restarted_mid_run_then_gone_for_good(tmp_path: Path) -> None:
    # A cluster of its own (appendonly on, so a restarted node keeps its entries).
    with _fixture.running_cluster(tmp_path, appendonly=True) as cluster:
        url = cluster.url
        streams = partition_streams("in", 3, cluster=True)
        n = 600
        async with _client(url) as r:
            await _fill(r, streams, n)

        async def slow(entry: RedisEntry) -> dict[str, str]:
            await anyio.sleep(0.004)
            return {"n": entry.fields["n"]}

        victim = cluster.ports[1]

        async def restart() -> None:
            await anyio.sleep(0.5)
            await anyio.to_thread.run_sync(cluster.stop_node, victim)
            await anyio.sleep(1.5)
            await anyio.to_thread.run_sync(cluster.start_node, victim)

        stream = (
            from_redis_stream(
                url, streams, group="g", consumer="w", batch=20, block=0.1, idle_stop=2.0,
                reconnect=20,
            )
            | a.map_async(slow, concurrency=2)
            | to_redis_stream(url, "out", key=lambda d: d["n"], partitions=3, reconnect=20)
        )  # fmt: skip
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(restart)
                written = await stream.collect()
        stats = stream.stats()
        assert stats[0].retried + stats["to_redis_stream"].retried >= 1
        assert {e.fields["n"] for e in written} == {str(i) for i in range(n)}
        cluster.wait_ok()
        async with _client(url) as r:
            for name in streams:
                assert await _pending(r, name, "g") == 0
            out = set()
            for name in partition_streams("out", 3, cluster=True):
                out |= {e.field_values["n"] for e in await r.xrange(name)}
            assert out == {str(i) for i in range(n)}

        # Now the node goes away for good: one clear error naming the cluster.
        async def stop_soon() -> None:
            await anyio.sleep(0.5)
            await anyio.to_thread.run_sync(cluster.stop_node, victim)

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_soon)
            with pytest.raises(ConnectionError) as info:
                await from_redis_stream(
                    url, streams, group="g2", consumer="w", block=0.1, reconnect=1.0
                ).collect()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith("from_redis_stream: lost the connection to Redis at")
        assert f"127.0.0.1:{victim}" in message
        assert "reconnect=1" in message
        assert time.monotonic() - started < 15


# -- credentials -----------------------------------------------------------------------------------


async def test_acl_user_with_a_percent_encoded_password_on_every_node(
    redis_cluster_url: str, redis_cluster: Any
) -> None:
    password = "p@ss:w/rd#1"
    encoded = "p%40ss%3Aw%2Frd%231"
    for port in redis_cluster.ports:  # ACLs are per node
        reply = _fixture.command(
            port, "ACL", "SETUSER", "alice", "reset", "on", f">{password}", "~*", "&*", "+@all"
        )
        assert reply.startswith(b"+OK"), reply
    try:
        nodes = redis_cluster_url.removeprefix("redis+cluster://")
        url = f"redis+cluster://alice:{encoded}@{nodes}"
        streams = partition_streams("s", 3, cluster=True)
        written = await (
            a.from_iterable([{"n": str(i)} for i in range(30)])
            | to_redis_stream(url, "s", key=lambda d: d["n"], partitions=3)
        ).collect()
        assert {e.stream for e in written} == set(streams)
        got = await from_redis_stream(
            url, streams, group="g", consumer="c", block=0.05, idle_stop=0.4
        ).collect()
        assert sorted(int(e.fields["n"]) for e in got) == list(range(30))
        wrong = f"redis+cluster://alice:not-{encoded}@{nodes}"
        with pytest.raises(PermissionError, match="refused the credentials") as info:
            await from_redis_stream(wrong, streams, group="g", consumer="c").collect()
        message = str(info.value)
        assert "alice:***@" in message
        assert all(secret not in message for secret in ("not-", "p@ss", "p%40ss", "rd#1"))
    finally:
        for port in redis_cluster.ports:
            _fixture.command(port, "ACL", "DELUSER", "alice")
