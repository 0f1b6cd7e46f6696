"""The consumer-group source of :mod:`anystream.connectors.redis`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .._core.acks import Acked
from .._core.callables import check_int, check_number
from .._core.handoff import send
from .._core.source import TaskSource
from .._core.stream import Stream
from ._redis_client import ClientOrUrl, RedisEntry, as_text, import_coredis, logger, open_client

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from .._core.shutdown import StopState


__all__ = ["from_redis_stream"]

# -- the source -----------------------------------------------------------------------------


class _Acks:
    """Entry ids whose acknowledgements arrived, waiting for the next XACK batch."""

    def __init__(self) -> None:
        self.pending: dict[str, list[str]] = {}
        self.in_flight: set[tuple[str, str]] = set()
        self.wake = anyio.Event()
        self.idle = anyio.Event()
        self.idle.set()

    def handed(self, stream: str, entry_id: str) -> None:
        self.in_flight.add((stream, entry_id))
        if self.idle.is_set():
            self.idle = anyio.Event()

    def _settle(self, stream: str, entry_id: str) -> None:
        self.in_flight.discard((stream, entry_id))
        if not self.in_flight:
            self.idle.set()

    def ack(self, stream: str, entry_id: str) -> None:
        self.pending.setdefault(stream, []).append(entry_id)
        self._settle(stream, entry_id)
        self.wake.set()

    def nack(self, stream: str, entry_id: str) -> None:
        # Not acknowledged: the entry stays in this consumer's PEL, so it is redelivered
        # when the consumer restarts or claimed by another one after ``claim_idle``.
        self._settle(stream, entry_id)

    def callbacks(
        self, stream: str, entry_id: str
    ) -> tuple[Callable[[], None], Callable[[BaseException | None], None]]:
        """The ``ack`` and ``nack`` of one entry."""

        def ack() -> None:
            self.ack(stream, entry_id)

        def nack(reason: BaseException | None) -> None:
            self.nack(stream, entry_id)

        return ack, nack

    def give_back(self, batch: Mapping[str, list[str]]) -> None:
        for stream, ids in batch.items():
            self.pending.setdefault(stream, []).extend(ids)

    def take(self) -> dict[str, list[str]]:
        pending, self.pending = self.pending, {}
        if self.wake.is_set():
            self.wake = anyio.Event()
        return pending


async def _xack(client: Any, group: str, pending: Mapping[str, Sequence[str]]) -> None:
    for stream, ids in pending.items():
        for start in range(0, len(ids), 1000):
            await client.xack(stream, group, ids[start : start + 1000])


def from_redis_stream(
    client_or_url: ClientOrUrl,
    streams: str | Sequence[str],
    *,
    group: str,
    consumer: str,
    batch: int = 100,
    block: float = 1.0,
    claim_idle: float = 30.0,
    claim_interval: float | None = None,
    start_id: str = "0",
    create_group: bool = True,
    dead_letter: str | None = None,
    idle_stop: float | None = None,
    delete_idle_consumers: float | None = None,
    connect_timeout: float = 5.0,
) -> Stream[RedisEntry]:
    """Entries of ``streams`` read as ``consumer`` of the consumer group ``group``.

    Emits a :class:`RedisEntry` per entry and XACKs it once the pipeline has fully
    handled it (acknowledgements are batched and sent from the source's own task). So:

    - ``group`` is created (``XGROUP CREATE ... MKSTREAM``, reading from ``start_id``:
      ``"0"`` for everything already in the stream, ``"$"`` for new entries only) on a
      stream where it is missing, unless ``create_group=False``, in which case a missing
      group is an error (catches a misspelt group name that would otherwise start over).
    - On start the consumer first re-reads its own pending entries (delivered to this
      consumer name before a crash, never acknowledged), then new ones, ``batch`` at a
      time per stream, waiting up to ``block`` seconds on the server for more.
    - On start and every ``claim_interval`` seconds (default ``claim_idle / 2``) it
      takes over (XAUTOCLAIM) entries pending at *any* consumer for more than
      ``claim_idle`` seconds: those of dead workers. ``claim_idle`` must therefore be
      longer than an entry can spend in a healthy pipeline (windows included), or live
      workers' entries are processed twice.
    - An entry whose fields are not UTF-8 is *malformed*: with ``dead_letter`` it is
      copied to that stream (fields ``stream``, ``id``, ``error`` plus its own) and
      acknowledged; without, the run ends with a ``ValueError`` naming it.
    - ``delete_idle_consumers``: group hygiene. At each claim (on start and every
      ``claim_interval``), the consumers of ``group`` on each stream that hold no pending
      entries and have been idle (no XREADGROUP/XAUTOCLAIM) for more than that many
      seconds are removed (``XGROUP DELCONSUMER``): the names left behind by workers that
      finished or were renamed. The "no pending entries" check and the removal are one Lua
      script, so a consumer that just read entries is never removed with them. It must be
      longer than ``block`` (a live consumer is idle for up to ``block`` between reads);
      default ``None``: consumers are never removed.
    - ``idle_stop``: end (like a finite source) once no entry arrived for that many
      seconds; default: run until stopped.

    A graceful stop (``run.stop()``, Ctrl-C with ``handle_signals=True``) stops reading
    after the current XREADGROUP (at most ``block`` seconds), lets the pipeline drain,
    and XACKs everything it handled before returning. After an abort the entries in
    flight stay pending and are redelivered later: at-least-once.

    ``client_or_url``: a ``redis://`` URL (a client is opened and closed per run, with a
    ``connect_timeout``) or a ``coredis.Redis`` client already entered with ``async with``
    (use ``decode_responses=False`` to get malformed entries reported per entry).
    """
    who = "from_redis_stream"
    if not isinstance(streams, str) and not isinstance(streams, Sequence):
        raise TypeError(
            f"{who}(): streams must be a stream name or a list of names, got {streams!r}"
        )
    names = [streams] if isinstance(streams, str) else list(streams)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TypeError(
            f"{who}(): streams must be a stream name or a list of names, got {streams!r}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{who}(): streams lists a name twice: {names}")
    for arg, value in (("group", group), ("consumer", consumer), ("start_id", start_id)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{who}(): {arg} must be a non-empty string, got {value!r}")
    if not isinstance(client_or_url, str) and not hasattr(client_or_url, "xreadgroup"):
        raise TypeError(
            f"{who}(): client_or_url must be a redis:// URL or a coredis.Redis client, "
            f"got {type(client_or_url).__name__}"
        )
    check_int(who, "batch", batch, minimum=1)
    block = check_number(who, "block", block, allow_zero=True)
    claim_idle = check_number(who, "claim_idle", claim_idle)
    interval = claim_idle / 2 if claim_interval is None else claim_interval
    interval = check_number(who, "claim_interval", interval)
    connect_timeout = check_number(who, "connect_timeout", connect_timeout)
    if idle_stop is not None:
        idle_stop = check_number(who, "idle_stop", idle_stop)
    if delete_idle_consumers is not None:
        delete_idle_consumers = check_number(who, "delete_idle_consumers", delete_idle_consumers)
        if delete_idle_consumers <= block:
            raise ValueError(
                f"{who}(): delete_idle_consumers must be longer than block ({block} s; a live "
                f"consumer is idle for up to that long between reads), got {delete_idle_consumers}"
            )
    if dead_letter is not None and (not isinstance(dead_letter, str) or not dead_letter):
        raise TypeError(f"{who}(): dead_letter must be a stream name, got {dead_letter!r}")

    async def run(tx: MemoryObjectSendStream[Any], stop: StopState) -> None:
        acks = _Acks()
        async with open_client(client_or_url, who, connect_timeout) as client:
            await _prepare_groups(client, names, group, start_id, create_group=create_group)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_ack_loop, client, group, acks)
                    reader = _Reader(
                        client, names, group, consumer, tx, stop, acks,
                        batch=batch, block=block, claim_idle=claim_idle,
                        claim_interval=interval, dead_letter=dead_letter, idle_stop=idle_stop,
                        delete_idle=delete_idle_consumers,
                    )  # fmt: skip
                    await reader.run()
                    # End of input for the pipeline; what is in flight still drains and is
                    # acknowledged (windows flush on end of input, collect() acks at its
                    # end), so close our side first, then wait for those acks.
                    tx.close()
                    await acks.idle.wait()
                    tg.cancel_scope.cancel()
            except BaseException:
                # Aborted or failed: still try to acknowledge what was fully handled
                # (bounded and shielded). Best effort: a client opened here from a URL
                # runs its connections inside this cancelled run, so this usually fails
                # after an abort, and those entries are redelivered (at-least-once).
                with anyio.move_on_after(connect_timeout, shield=True):
                    try:
                        await _xack(client, group, acks.take())
                    except Exception as exc:
                        logger.info("from_redis_stream: acknowledgements lost at abort: %r", exc)
                raise
            await _xack(client, group, acks.take())

    source: TaskSource[RedisEntry] = TaskSource(run, who, acknowledged=True)
    return Stream(source)


async def _prepare_groups(
    client: Any, streams: Sequence[str], group: str, start_id: str, *, create_group: bool
) -> None:
    coredis = import_coredis("from_redis_stream")
    exceptions = coredis.exceptions
    for stream in streams:
        kind = as_text(await client.type(stream))
        if kind not in ("stream", "none"):
            raise TypeError(f"from_redis_stream: key {stream!r} holds a Redis {kind}, not a stream")
        if not create_group:
            groups = await client.xinfo_groups(stream) if kind == "stream" else ()
            if not any(as_text(g[b"name" if b"name" in g else "name"]) == group for g in groups):
                raise LookupError(
                    f"from_redis_stream: consumer group {group!r} does not exist on stream "
                    f"{stream!r} (create_group=False)"
                )
            continue
        # A duplicate means another worker (or an earlier run) created it.
        with contextlib.suppress(exceptions.StreamDuplicateConsumerGroupError):
            await client.xgroup_create(stream, group, identifier=start_id, mkstream=True)


async def _ack_loop(client: Any, group: str, acks: _Acks) -> None:
    """XACK acknowledged ids in batches: whatever arrived while the last XACK ran."""
    while True:
        await acks.wake.wait()
        batch = acks.take()
        try:
            await _xack(client, group, batch)
        except BaseException:
            # Cancelled (the source is ending) or failed half way: give the ids back so
            # the final flush sends them (XACK of an id already acked is harmless).
            acks.give_back(batch)
            raise


class _Reader:
    """The reading half of the source: own PEL, then new entries, claiming periodically."""

    def __init__(
        self,
        client: Any,
        streams: list[str],
        group: str,
        consumer: str,
        tx: MemoryObjectSendStream[Any],
        stop: StopState,
        acks: _Acks,
        *,
        batch: int,
        block: float,
        claim_idle: float,
        claim_interval: float,
        dead_letter: str | None,
        idle_stop: float | None,
        delete_idle: float | None = None,
    ) -> None:
        self.client = client
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self.tx = tx
        self.stop = stop
        self.acks = acks
        self.batch = batch
        self.block_ms = int(block * 1000)
        self.claim_idle_ms = max(1, int(claim_idle * 1000))
        self.claim_interval = claim_interval
        self.dead_letter = dead_letter
        self.idle_stop = idle_stop
        self.delete_idle_ms = None if delete_idle is None else int(delete_idle * 1000)

    async def run(self) -> None:
        # Phase 1: this consumer's own pending entries (a restart after a crash).
        history = dict.fromkeys(self.streams, "0")
        while history and not self.stop.stopping:
            reply = (
                await self.client.xreadgroup(self.group, self.consumer, history, count=self.batch)
                or {}
            )
            for name in list(history):
                entries = _key(reply, name)
                if not entries:
                    del history[name]  # caught up with this stream's own pending entries
                    continue
                history[name] = as_text(entries[-1].identifier)
                await self._hand_over(name, entries, claimed=False)
        # Phase 2: claim from dead consumers now and then; read new entries.
        next_claim = anyio.current_time()
        last_entry = anyio.current_time()
        new = dict.fromkeys(self.streams, ">")
        while not self.stop.stopping:
            now = anyio.current_time()
            if now >= next_claim:
                if await self._claim():
                    last_entry = anyio.current_time()
                if self.delete_idle_ms is not None:
                    await self._delete_idle_consumers(self.delete_idle_ms)
                next_claim = anyio.current_time() + self.claim_interval
                continue
            block = self.block_ms
            if self.idle_stop is not None:
                left = last_entry + self.idle_stop - now
                if left <= 0:
                    return
                block = min(block, max(1, int(left * 1000)))
            block = min(block, max(1, int((next_claim - now) * 1000)))
            reply = await self.client.xreadgroup(
                self.group, self.consumer, new, count=self.batch, block=block
            )
            for stream, entries in (reply or {}).items():
                if entries:
                    last_entry = anyio.current_time()
                    await self._hand_over(as_text(stream), entries, claimed=False)

    async def _claim(self) -> int:
        """XAUTOCLAIM every stream's long-pending entries; the number handed over."""
        handed = 0
        for stream in self.streams:
            start = "0-0"
            while not self.stop.stopping:
                reply = await self.client.xautoclaim(
                    stream, self.group, self.consumer, self.claim_idle_ms, start,
                    count=self.batch,
                )  # fmt: skip
                start = as_text(reply[0])
                entries = reply[1]
                if len(reply) > 2 and reply[2]:
                    logger.info(
                        "from_redis_stream: %d entries pending in %s were deleted from the "
                        "stream; dropped from the group's PEL by XAUTOCLAIM",
                        len(reply[2]), stream,
                    )  # fmt: skip
                if entries:
                    logger.info(
                        "from_redis_stream: %s claimed %d entries of %s idle for over %d ms",
                        self.consumer, len(entries), stream, self.claim_idle_ms,
                    )  # fmt: skip
                    handed += await self._hand_over(stream, entries, claimed=True)
                if start == "0-0":
                    break
        return handed

    async def _delete_idle_consumers(self, idle_ms: int) -> int:
        """XGROUP DELCONSUMER the group's idle consumers without pending entries."""
        removed = 0
        for stream in self.streams:
            for info in await self.client.xinfo_consumers(stream, self.group):
                fields = {as_text(k): v for k, v in info.items()}
                name = as_text(fields["name"])
                # "idle": ms since its last attempted read or claim (not "inactive" of
                # Redis >= 7.2, which also grows for a live consumer on an empty stream).
                idle = int(fields["idle"])
                if name == self.consumer or int(fields["pending"]) or idle <= idle_ms:
                    continue
                if await self.client.eval(_DELETE_IF_IDLE, keys=[stream], args=[self.group, name]):
                    removed += 1
                    logger.info(
                        "from_redis_stream: removed consumer %s of group %s on %s, idle for "
                        "%s ms with no pending entries",
                        name, self.group, stream, idle,
                    )  # fmt: skip
        return removed

    async def _hand_over(self, stream: str, entries: Sequence[Any], *, claimed: bool) -> int:
        acks = self.acks
        handed = 0
        for raw in entries:
            entry_id = as_text(raw.identifier)
            if claimed and (stream, entry_id) in acks.in_flight:
                continue  # our own, still in the pipeline (the claim reset its idle time)
            values = raw.field_values
            if values is None:
                # Deleted from the stream (XDEL, trimming) while pending: nothing to do.
                acks.ack(stream, entry_id)
                continue
            try:
                fields = {as_text(k): as_text(v) for k, v in values.items()}
            except UnicodeDecodeError as exc:
                await self._malformed(stream, entry_id, values, exc)
                continue
            entry = RedisEntry(stream, entry_id, fields)
            acks.handed(stream, entry_id)
            await send(self.tx, Acked(entry, *acks.callbacks(stream, entry_id)))
            handed += 1
        return handed

    async def _malformed(
        self, stream: str, entry_id: str, values: Mapping[Any, Any], exc: Exception
    ) -> None:
        if self.dead_letter is None:
            raise ValueError(
                f"from_redis_stream: entry {entry_id} of stream {stream!r} is malformed "
                f"({exc}); pass dead_letter='<stream>' to set such entries aside"
            ) from exc
        letter: dict[Any, Any] = dict(values)
        letter.update({"stream": stream, "id": entry_id, "error": str(exc)})
        await self.client.xadd(self.dead_letter, letter)
        self.acks.ack(stream, entry_id)
        logger.warning(
            "from_redis_stream: malformed entry %s of %s moved to %s: %s",
            entry_id, stream, self.dead_letter, exc,
        )  # fmt: skip


# Remove a consumer only if it holds no pending entries, atomically: a consumer that
# read entries since XINFO CONSUMERS keeps them (DELCONSUMER would drop them from the PEL).
_DELETE_IF_IDLE = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
    return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def _key(reply: Mapping[Any, Any], stream: str) -> Any:
    if stream in reply:
        return reply[stream]
    return reply.get(stream.encode())
