"""Redis Streams: a consumer-group source and a pipelined sink (``pip install 'anystream[redis]'``).

When one process is not enough, shard the pipeline over a partitioned log. A Redis
stream read through a *consumer group* is one: every entry goes to one consumer of the
group, stays in the group's pending entries list (PEL) until that consumer XACKs it, and
can be taken over (XAUTOCLAIM) by another consumer when its owner died. Several streams
are several partitions; every worker process reads all of them and Redis spreads the
entries.

::

    worker = (
        from_redis_stream(url, partition_streams("events", 4), group="g", consumer="w1")
        | parse(lambda entry: decode(entry.fields["line"]))
        | ...
        | to_redis_stream(url, "results")
    )

At-least-once, precisely. :func:`from_redis_stream` is an *acknowledged* source (see
``anystream._core.acks``): the runner says when an entry has been fully handled by the
end of the pipeline, and only then is it XACKed. An entry whose worker dies before that
stays pending and is redelivered: to the same consumer name when it restarts (it first
re-reads its own PEL), or to another consumer once it has been idle for ``claim_idle``
seconds. So an effect downstream may happen twice; make the final write idempotent (the
scale-out demo, ``anystream.demo.redis_demo``, does its dedup in Redis with one Lua
script so that "check and write" cannot be split by a crash).

The client is `coredis <https://coredis.readthedocs.io>`_ (6.x), which is built on anyio,
so both operators run on asyncio and on trio. coredis is imported only when one of them
is called.

Redis Cluster: pass a ``redis+cluster://host:port[,host:port...]`` URL or a
``coredis.RedisCluster`` client, and name the partitions with
``partition_streams(stream, n, cluster=True)`` (hash-tagged names spread over the
cluster's slots, which ``to_redis_stream(..., partitions=n)`` writes on a cluster); the
source reads each stream with a command of its own, from the node that serves it.

The implementation is split by job: _redis_client.py (entries, partitioning, clients),
_redis_cluster.py (cluster URLs, slots and partition names), _redis_source.py
(:func:`from_redis_stream`) and _redis_sink.py (:func:`to_redis_stream`).
"""

from __future__ import annotations

from ._redis_client import RedisEntry, partition_for, partition_streams, stable_hash
from ._redis_sink import to_redis_stream
from ._redis_source import from_redis_stream

__all__ = [
    "RedisEntry",
    "from_redis_stream",
    "partition_for",
    "partition_streams",
    "stable_hash",
    "to_redis_stream",
]
