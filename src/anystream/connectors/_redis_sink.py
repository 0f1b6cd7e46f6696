"""The pipelined sink of :mod:`anystream.connectors.redis`."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .._core.callables import check_callable, check_int, check_number
from .._core.errors import add_operator_note
from .._core.handoff import END, receive_or_end, send
from .._core.operator import Operator, StagedStep
from .._core.poll import WAIT, poll
from ._redis_client import (
    ClientOrUrl,
    FieldValue,
    Reconnect,
    RedisEntry,
    as_text,
    check_reconnect,
    connection_lost,
    describe,
    import_coredis,
    open_client,
    partition_streams,
    stable_hash,
)
from ._redis_cluster import is_cluster, reject_moved

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .._core.operator import StageContext


__all__ = ["to_redis_stream"]

# -- the sink -------------------------------------------------------------------------------


def _default_fields(item: Any) -> Mapping[str, FieldValue]:
    if isinstance(item, RedisEntry):
        return item.fields
    if isinstance(item, Mapping):
        return item
    raise TypeError(
        f"to_redis_stream: items must be mappings of field -> value (or RedisEntry), got "
        f"{type(item).__name__}; pass fields=<function returning a mapping>"
    )


def to_redis_stream(
    client_or_url: ClientOrUrl,
    stream: str,
    *,
    key: Callable[[Any], Hashable] | None = None,
    partitions: int | None = None,
    maxlen: int | None = None,
    fields: Callable[[Any], Mapping[str, FieldValue]] | None = None,
    batch: int = 100,
    reconnect: float = 30.0,
    connect_timeout: float = 5.0,
) -> Operator[Any, RedisEntry]:
    """XADD every item to ``stream``; emit the :class:`RedisEntry` written, in order.

    An item is a mapping of field -> value (``str``, ``bytes``, ``int`` or ``float``) or a
    :class:`RedisEntry`; ``fields(item)`` converts anything else. With ``key`` and
    ``partitions`` an item goes to ``f"{stream}:{partition_for(key(item), partitions)}"``
    (a CRC-32 of the key, the same in every process, so that one key always lands in one
    partition); on a Redis Cluster (a cluster client or a ``redis+cluster://`` URL) the
    partitions are ``partition_streams(stream, partitions, cluster=True)``, spread over
    the cluster's slots. ``maxlen`` caps each stream at about that many entries (``MAXLEN ~``).

    Writes are pipelined: the stage takes what is available in its input buffer (up to
    ``batch`` items, which is also the buffer's size) and sends them in one round trip,
    so a fast producer pays one round trip per batch, not per item. Items from an
    acknowledged source are acknowledged once their entry is written and the emitted
    entry is handled downstream.

    A lost connection is retried with capped exponential backoff and jitter for up to
    ``reconnect`` seconds (default 30; 0: fail at once), then the run fails with one
    ``ConnectionError`` naming the server (password masked) and how long it tried. The
    batch in progress is sent again after a reconnect, so an entry whose XADD reached the
    server just before the connection broke is written twice (at-least-once: make what
    reads the stream idempotent). Reconnects count as ``retried`` in the sink's stats.
    """
    who = "to_redis_stream"
    if not isinstance(stream, str) or not stream:
        raise TypeError(f"{who}(): stream must be a non-empty string, got {stream!r}")
    if (key is None) != (partitions is None):
        raise ValueError(f"{who}(): key and partitions go together: give both or neither")
    if key is not None:
        check_callable(who, "key", key)
    if partitions is not None:
        check_int(who, "partitions", partitions, minimum=1)
    if maxlen is not None:
        check_int(who, "maxlen", maxlen, minimum=1)
    if fields is not None:
        check_callable(who, "fields", fields)
    check_int(who, "batch", batch, minimum=1)
    reconnect = check_reconnect(who, reconnect)
    connect_timeout = check_number(who, "connect_timeout", connect_timeout)
    if not isinstance(client_or_url, str) and not hasattr(client_or_url, "xadd"):
        raise TypeError(
            f"{who}(): client_or_url must be a redis:// (or redis+cluster://) URL or a "
            f"coredis.Redis (or RedisCluster) client, got {type(client_or_url).__name__}"
        )
    to_fields = fields or _default_fields
    name = f"{who}({stream!r})"
    # On a cluster the partitions are hash-tagged names spread over the slots.
    names = (
        partition_streams(stream, partitions, cluster=is_cluster(client_or_url))
        if partitions is not None
        else []
    )

    def target(item: Any) -> str:
        if key is None or partitions is None:
            return stream
        try:
            k = key(item)
        except Exception as exc:
            add_operator_note(exc, name)
            raise
        return names[stable_hash(k) % partitions]  # partition_for, checked once

    def convert(item: Any) -> Mapping[str, FieldValue]:
        try:
            return to_fields(item)
        except Exception as exc:
            add_operator_note(exc, name)
            raise

    async def run(
        rx: MemoryObjectReceiveStream[Any],
        tx: MemoryObjectSendStream[Any],
        ctx: StageContext,
        *,
        tracked: bool = False,
    ) -> None:
        coredis = import_coredis(who)
        trim: dict[str, Any] = {}
        if maxlen is not None:
            trim = {
                "trim_strategy": coredis.PureToken.MAXLEN,
                "threshold": maxlen,
                "trim_operator": coredis.PureToken.APPROXIMATELY,
            }
        async with open_client(client_or_url, who, connect_timeout) as client:
            again = Reconnect(
                client, who, describe(client_or_url), reconnect, connect_timeout, ctx.stats
            )
            ended = False
            while not ended:
                items, ended = await _take_batch(rx, batch)
                if not items:
                    return
                ctx.counts.received += len(items)
                values = [item[0] for item in items] if tracked else items
                plan = [(target(v), convert(v)) for v in values]
                while True:
                    try:
                        async with client.pipeline(transaction=False) as pipe:
                            requests = [pipe.xadd(s, f, **trim) for s, f in plan]
                        ids = [as_text(await request) for request in requests]
                    except Exception as exc:
                        if reconnect and connection_lost(exc):
                            await again.recover(exc)  # raises once it gives up
                            continue
                        reject_moved(exc, who, describe(client_or_url))  # a cluster node
                        add_operator_note(exc, name)
                        raise
                    break
                for index, ((s, f), entry_id) in enumerate(zip(plan, ids, strict=True)):
                    out = RedisEntry(s, entry_id, {k: _field_text(v) for k, v in f.items()})
                    ctx.counts.emitted += 1
                    await send(tx, (out, items[index][1]) if tracked else out)

    async def run_tracked(
        rx: MemoryObjectReceiveStream[Any], tx: MemoryObjectSendStream[Any], ctx: StageContext
    ) -> None:
        await run(rx, tx, ctx, tracked=True)

    step = StagedStep(name, run, capacity=batch, tracked=run_tracked)
    return cast("Operator[Any, RedisEntry]", Operator((step,)))


def _field_text(value: FieldValue) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


async def _take_batch(rx: MemoryObjectReceiveStream[Any], limit: int) -> tuple[list[Any], bool]:
    """Wait for one item, then take what else is already there; (items, end reached)."""
    items: list[Any] = []
    item = poll(rx)
    if item is WAIT:
        item = await receive_or_end(rx)
    while item is not END:
        items.append(item)
        if len(items) >= limit:
            return items, False
        item = poll(rx)
        if item is WAIT:
            return items, False
    return items, True
