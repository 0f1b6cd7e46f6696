"""Redis Cluster specifics of :mod:`anystream.connectors.redis`: URLs, slots, partitions.

A cluster splits the key space into 16384 hash slots, each served by one primary. Every
command must touch keys of one slot (XREADGROUP over streams of different slots fails
with ``CROSSSLOT`` even when one node serves them), so on a cluster the source reads each
stream with a command of its own, and the partition names carry hash tags chosen so that
the partitions cover the slot range evenly (and therefore every primary of a cluster
whose slots are split evenly, as ``redis-cli --cluster create`` does).

A cluster URL is ``redis+cluster://[user[:password]@]host:port[,host:port...]``: the
nodes to discover the cluster from (any one that answers is enough). coredis is imported
only when a client is opened.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from .._core.callables import check_int
from ._redis_base import closing_pool, import_coredis, masked_url

__all__ = [
    "CLUSTER_SCHEME",
    "SLOTS",
    "cluster_nodes",
    "cluster_partition_streams",
    "cluster_where",
    "is_cluster",
    "is_cluster_url",
    "key_slot",
    "nodes_of",
    "open_cluster",
    "parse_cluster_url",
    "primaries_answer",
    "probe_cluster",
    "reject_moved",
    "release_cluster",
]

CLUSTER_SCHEME = "redis+cluster"
SLOTS = 16384
# The tag search below tries about 2 * partitions tags per partition: about a second for 512.
MAX_PARTITIONS = 512


def is_cluster_url(url: object) -> bool:
    """``url`` is a ``redis+cluster://`` URL (``rediss+cluster://`` too: rejected later)."""
    return isinstance(url, str) and url.partition("://")[0].lower() in (
        CLUSTER_SCHEME,
        "rediss+cluster",
    )


def is_cluster(client_or_url: object) -> bool:
    """A cluster URL, or a coredis cluster client (its pool knows the cluster's layout)."""
    if isinstance(client_or_url, str):
        return is_cluster_url(client_or_url)
    return hasattr(getattr(client_or_url, "connection_pool", None), "cluster_layout")


# -- slots and partitions ------------------------------------------------------------------------


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes with."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFF00) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _hash_tag(key: bytes) -> bytes | None:
    """The hash tag of ``key``: the text between its first ``{`` and the next ``}``, if any."""
    start = key.find(b"{")
    if start < 0:
        return None
    end = key.find(b"}", start + 1)
    if end <= start + 1:  # no "}" after it, or "{}": the whole key is hashed
        return None
    return key[start + 1 : end]


def key_slot(key: str | bytes) -> int:
    """The cluster hash slot (``0 <= slot < 16384``) of ``key``, as ``CLUSTER KEYSLOT`` says.

    Only the hash tag is hashed when the key has one (``{user1}:a`` and ``{user1}:b``
    share a slot, so one script may touch both).
    """
    data = key if isinstance(key, bytes) else key.encode("utf-8")
    tag = _hash_tag(data)
    return _crc16(data if tag is None else tag) % SLOTS


@functools.lru_cache(maxsize=64)
def _cluster_names(stream: str, partitions: int) -> tuple[str, ...]:
    names = []
    for n in range(partitions):
        low, high = n * SLOTS // partitions, (n + 1) * SLOTS // partitions
        quarter = (high - low) // 4
        low, high = low + quarter, max(high - quarter, low + quarter + 1)
        k = 0
        while True:
            tag = str(n) if k == 0 else f"{n}-{k}"
            if low <= _crc16(tag.encode()) % SLOTS < high:
                break
            k += 1
        names.append(f"{stream}:{{{tag}}}")
    return tuple(names)


def cluster_partition_streams(stream: str, partitions: int) -> list[str]:
    """``partitions`` stream names ``stream:{tag}`` whose slots spread over the slot range.

    Partition ``n`` gets the first tag among ``n``, ``n-1``, ``n-2``, ... (for partition
    3: ``{3}``, ``{3-1}``, ``{3-2}``, ...) whose slot is in the middle half of the
    ``n``-th of ``partitions`` equal slot ranges. The names do not depend on the cluster
    (producers and workers agree without asking it), and on a cluster whose primaries
    serve equal slot ranges, ``partitions`` a multiple of the number of primaries gives
    each primary as many partitions, away from the edges of its range.
    """
    who = "partition_streams"
    check_int(who, "partitions", partitions, minimum=1)
    if partitions > MAX_PARTITIONS:
        raise ValueError(
            f"{who}(): at most {MAX_PARTITIONS} partitions on a cluster, got {partitions}"
        )
    if _hash_tag(stream.encode("utf-8")) is not None:
        raise ValueError(
            f"{who}(): stream {stream!r} has a hash tag ({{...}}): every partition would be "
            f"in its slot; give a name without braces"
        )
    return list(_cluster_names(stream, partitions))


# -- clients ------------------------------------------------------------------------------------


def parse_cluster_url(url: str, who: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """The nodes, user name and password (percent-decoded) of a ``redis+cluster://`` URL."""

    parts = urlsplit(url)
    if parts.scheme.lower() != CLUSTER_SCHEME:
        raise ValueError(
            f"{who}: TLS to a cluster is not supported by URL ({masked_url(url)!r}); pass a "
            f"coredis.RedisCluster(..., ssl=True) client entered with 'async with'"
        )
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    nodes: list[tuple[str, int]] = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{who}: a cluster URL lists host:port nodes separated by commas "
                f"(redis+cluster://host:port,host:port), got {masked_url(url)!r}"
            )
        nodes.append((host.strip("[]"), int(port)))
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"{who}: a cluster URL has no database number or options (a cluster has one "
            f"database), got {masked_url(url)!r}"
        )
    return (
        nodes,
        unquote(user) if user else None,
        unquote(password) if userinfo and password else None,
    )


async def probe_cluster(url: str, who: str, connect_timeout: float) -> None:
    """Fail fast when none of the URL's nodes accepts TCP connections (one is enough)."""

    nodes, _, _ = parse_cluster_url(url, who)
    reasons = []
    for host, port in nodes:
        try:
            with anyio.fail_after(connect_timeout):
                stream = await anyio.connect_tcp(host, port)
        except (OSError, TimeoutError) as exc:
            reasons.append(
                f"{host}:{port}: {'timed out' if isinstance(exc, TimeoutError) else exc}"
            )
            continue
        await stream.aclose()
        return
    raise ConnectionError(
        f"{who}: cannot connect to any node of the Redis Cluster {masked_url(url)!r} "
        f"within {connect_timeout:g} s: {'; '.join(reasons)}"
    )


def open_cluster(url: str, who: str, connect_timeout: float) -> Any:
    """A ``coredis.RedisCluster`` for a cluster URL (not entered yet)."""

    coredis = import_coredis(who)
    nodes, user, password = parse_cluster_url(url, who)
    return coredis.RedisCluster(
        startup_nodes=[coredis.connection.TCPLocation(host, port) for host, port in nodes],
        username=user,
        password=password,
        connect_timeout=connect_timeout,
        decode_responses=False,
        connection_pool_cls=_pool_class(coredis),
    )


@functools.cache
def _pool_class(coredis: Any) -> Any:
    """coredis's cluster pool, closing the buffers of connections that never connected.

    A cluster client opens more connections at once than a plain one (one per node and
    reading loop), so it meets coredis's leak more often (see ``closing_pool``).
    """
    return closing_pool(coredis.pool.ClusterConnectionPool, "_wrap_connection")


def reject_moved(exc: BaseException, who: str, where: str) -> None:
    """Raise a clear ``ValueError`` when ``exc`` is a cluster node's redirection (MOVED).

    A ``redis://`` URL (or a ``coredis.Redis`` client) pointed at one node of a cluster
    gets MOVED for every key that node does not serve: say what to use instead.
    """

    moved = import_coredis(who).exceptions.MovedError
    leaves = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    if any(isinstance(leaf, moved) for leaf in leaves):
        raise ValueError(
            f"{who}: the Redis at {where!r} is a node of a Redis Cluster (it answered MOVED): "
            f"use a redis+cluster://host:port[,host:port...] URL or a coredis.RedisCluster "
            f"client"
        ) from exc


def release_cluster(client: Any) -> None:
    """Close what coredis 6.9 leaves open when a cluster client is closed.

    Its cluster layout holds a memory stream (node errors, for its refresh task) that
    nothing closes: a ResourceWarning per client otherwise. Only for clients we opened.
    """
    layout = getattr(getattr(client, "connection_pool", None), "cluster_layout", None)
    for stream in getattr(layout, "_error_stream", ()):
        stream.close()


def cluster_nodes(client: Any) -> list[tuple[str, int]]:
    """The primaries of the cluster as the client knows them (else its startup nodes)."""
    pool = client.connection_pool
    found = [(node.host, node.port) for node in pool.cluster_layout.primaries]
    if not found:
        found = [(node.host, node.port) for node in getattr(pool, "startup_nodes", ())]
    return sorted(found)


def cluster_where(client: Any) -> str:
    """``cluster host:port,host:port`` for messages: the primaries (or startup nodes)."""
    return "cluster " + ",".join(f"{host}:{port}" for host, port in cluster_nodes(client))


async def primaries_answer(client: Any, connect_timeout: float) -> None:
    """Raise unless every known primary accepts TCP connections, says its cluster state
    is ok (unless it wants a password first, or speaks TLS), and the cluster PINGs.

    Checking TCP first keeps coredis from opening (and leaking the memory streams of)
    connections that cannot connect while a node is down.
    """
    plain = client.connection_pool.connection_kwargs.get("ssl_context") is None
    with anyio.fail_after(connect_timeout):
        for host, port in cluster_nodes(client):
            async with await anyio.connect_tcp(host, port) as stream:
                if plain:
                    await _cluster_state_ok(stream, host, port)
        await client.ping()


async def _cluster_state_ok(stream: Any, host: str, port: int) -> None:
    """Raise ``ConnectionError`` unless the node says ``cluster_state:ok``.

    A node that has just restarted answers PING at once but refuses keyed commands
    (CLUSTERDOWN) until the nodes agree again. Asked on the plain TCP connection just
    opened: a node that wants a password answers NOAUTH, and then only PING decides.
    """
    await stream.send(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
    reply = b""
    # The state is the first line of the reply: read until it is there.
    while b"\r\n" not in reply.partition(b"\r\n")[2] and len(reply) < 65536:
        try:
            reply += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            raise ConnectionError(
                f"Redis Cluster node {host}:{port} closed the connection"
            ) from exc
        if reply.startswith(b"-"):
            return  # NOAUTH (or an error): the PING that follows decides
    if b"cluster_state:ok" not in reply:
        state = reply.partition(b"cluster_state:")[2].partition(b"\r\n")[0].decode(errors="replace")
        raise ConnectionError(f"Redis Cluster node {host}:{port} says cluster_state:{state}")


def nodes_of(client: Any, streams: Sequence[str]) -> dict[str, tuple[str, int]]:
    """The primary (``(host, port)``) that serves each of ``streams`` now."""
    layout = client.connection_pool.cluster_layout
    out = {}
    for stream in streams:
        node = layout.node_for_slot(key_slot(stream))
        out[stream] = (node.host, node.port)
    return out
