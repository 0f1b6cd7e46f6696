"""The consumer-group source of :mod:`anystream.connectors.redis`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from .._core.acks import Acked
from .._core.callables import check_int, check_number
from .._core.handoff import send
from .._core.shutdown import STOPPED
from .._core.source import TaskSource
from .._core.stream import Stream
from ._redis_client import (
    ClientOrUrl,
    Reconnect,
    RedisEntry,
    as_text,
    check_reconnect,
    connection_lost,
    describe,
    import_coredis,
    logger,
    open_client,
)
from ._redis_cluster import is_cluster, reject_moved

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
        # Acknowledged by the pipeline, XACK not sent yet: still ours (never re-read).
        self.acking: set[tuple[str, str]] = set()
        # Read, not handed over yet (the reader waits for the pipeline to take the ones
        # before them): only the heartbeat looks at these.
        self.reading: set[tuple[str, str]] = set()
        # Entries an error policy dead-lettered: written to the dead-letter stream by
        # the flush that acknowledges them, before the XACK.
        self.letters: dict[tuple[str, str], tuple[RedisEntry, BaseException]] = {}
        self.wake = anyio.Event()
        self.idle = anyio.Event()
        self.idle.set()
        self._room: anyio.Event | None = None

    def handed(self, stream: str, entry_id: str) -> None:
        self.in_flight.add((stream, entry_id))
        if self.idle.is_set():
            self.idle = anyio.Event()

    def _settle(self, stream: str, entry_id: str) -> None:
        self.in_flight.discard((stream, entry_id))
        if not self.in_flight:
            self.idle.set()
        if self._room is not None:
            self._room.set()

    async def wait_for_room(self, limit: int) -> None:
        """Return once fewer than ``limit`` entries are in flight."""
        while len(self.in_flight) >= limit:
            self._room = anyio.Event()
            await self._room.wait()
        self._room = None

    def ack(self, stream: str, entry_id: str) -> None:
        self.pending.setdefault(stream, []).append(entry_id)
        self.acking.add((stream, entry_id))
        self._settle(stream, entry_id)
        self.wake.set()

    def nack(self, stream: str, entry_id: str) -> None:
        # Not acknowledged: the entry stays in this consumer's PEL, so it is redelivered
        # when the consumer restarts or claimed by another one after ``claim_idle``.
        self._settle(stream, entry_id)

    def acked(self, entry: RedisEntry) -> Acked[RedisEntry]:
        """``entry`` with its ``ack``, ``nack`` and ``dead`` callbacks."""
        stream, entry_id = entry.stream, entry.id

        def ack() -> None:
            self.ack(stream, entry_id)

        def nack(reason: BaseException | None) -> None:
            self.nack(stream, entry_id)

        def dead(error: BaseException) -> None:
            self.letters[stream, entry_id] = (entry, error)

        return Acked(entry, ack, nack, dead)

    def give_back(
        self,
        batch: Mapping[str, list[str]],
        letters: Mapping[tuple[str, str], tuple[RedisEntry, BaseException]] | None = None,
    ) -> None:
        for stream, ids in batch.items():
            self.pending.setdefault(stream, []).extend(ids)
        if letters:
            self.letters.update(letters)
        if batch:
            self.wake.set()

    def holds(self, stream: str, entry_id: str) -> bool:
        """The entry is in this consumer's pipeline, or acknowledged and not XACKed yet."""
        key = (stream, entry_id)
        return key in self.in_flight or key in self.acking

    def sent(self, batch: Mapping[str, Sequence[str]]) -> None:
        """The ids of ``batch`` were XACKed."""
        for stream, ids in batch.items():
            for entry_id in ids:
                self.acking.discard((stream, entry_id))

    def take(
        self,
    ) -> tuple[dict[str, list[str]], dict[tuple[str, str], tuple[RedisEntry, BaseException]]]:
        """What to flush: the ids to XACK, and the dead letters to write first."""
        pending, self.pending = self.pending, {}
        letters, self.letters = self.letters, {}
        if self.wake.is_set():
            self.wake = anyio.Event()
        return pending, letters


class _Letters:
    """Writes dead letters: entries set aside with why, durable before they are acked."""

    def __init__(self, client: Any, target: str | None) -> None:
        self.client = client
        self.target = target

    def stream_for(self, stream: str) -> str:
        return self.target if self.target is not None else f"{stream}:dead"

    async def write(
        self,
        stream: str,
        entry_id: str,
        values: Mapping[Any, Any],
        *,
        deliveries: int,
        reason: str,
        error: BaseException | None,
    ) -> None:
        letter = _letter(values, stream, entry_id, deliveries, reason, error)
        await self.client.xadd(self.stream_for(stream), letter)
        logger.warning(
            "from_redis_stream: entry %s of %s dead-lettered to %s (%s, delivered %d times)%s",
            entry_id, stream, self.stream_for(stream), reason, deliveries,
            f": {error!r}" if error is not None else "",
        )  # fmt: skip


_LETTER_KEYS = ("stream", "id", "deliveries", "reason", "error")


def _letter(
    values: Mapping[Any, Any],
    stream: str,
    entry_id: str,
    deliveries: int,
    reason: str,
    error: BaseException | None,
) -> dict[Any, Any]:
    """The dead letter's fields: the entry's own, then where it came from and why.

    An own field named like one of ours is kept as ``field:<name>`` (never overwritten).
    """
    letter: dict[Any, Any] = {}
    for key, value in values.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        letter[f"field:{name}" if name in _LETTER_KEYS else key] = value
    letter.update(
        {"stream": stream, "id": entry_id, "deliveries": str(deliveries), "reason": reason}
    )
    if error is not None:
        letter["error"] = f"{type(error).__name__}: {error}"
    return letter


async def _xack(client: Any, group: str, pending: Mapping[str, Sequence[str]]) -> None:
    for stream, ids in pending.items():
        for start in range(0, len(ids), 1000):
            await client.xack(stream, group, ids[start : start + 1000])


async def _flush(
    client: Any,
    group: str,
    letters: _Letters,
    batch: tuple[
        Mapping[str, Sequence[str]], Mapping[tuple[str, str], tuple[RedisEntry, BaseException]]
    ],
) -> None:
    """Write the dead letters of ``batch``, then XACK its ids (letters are durable first)."""
    ids, dead = batch
    for entry, error in dead.values():
        await letters.write(
            entry.stream, entry.id, entry.fields, deliveries=entry.deliveries,
            reason="error_policy", error=error,
        )  # fmt: skip
    await _xack(client, group, ids)


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
    heartbeat: float | None = None,
    read_ahead: int | None = None,
    start_id: str = "0",
    create_group: bool = True,
    dead_letter: str | None = None,
    idle_stop: float | None = None,
    delete_idle_consumers: float | None = None,
    max_deliveries: int | None = 5,
    dead_letter_stream: str | None = None,
    reconnect: float = 30.0,
    connect_timeout: float = 5.0,
) -> Stream[RedisEntry]:
    """Entries of ``streams`` read as ``consumer`` of the consumer group ``group``.

    Emits a :class:`RedisEntry` per entry and XACKs it once the pipeline has fully
    handled it (acknowledgements are batched and sent from the source's own task, each
    batch as soon as the previous XACK returned). So:

    - ``group`` is created (``XGROUP CREATE ... MKSTREAM``, reading from ``start_id``:
      ``"0"`` for everything already in the stream, ``"$"`` for new entries only) on a
      stream where it is missing, unless ``create_group=False``, in which case a missing
      group is an error (catches a misspelt group name that would otherwise start over).
    - On start the consumer first re-reads its own pending entries (delivered to this
      consumer name before a crash, never acknowledged), then new ones, ``batch`` at a
      time per stream, waiting up to ``block`` seconds on the server for more.
    - On start and every ``claim_interval`` seconds (default ``claim_idle / 2``) it
      takes over (XPENDING ... IDLE, then XCLAIM) entries pending at *any* consumer for more than
      ``claim_idle`` seconds: those of dead workers. ``claim_idle`` must therefore be
      longer than a worker may go without running its event loop (see ``heartbeat``).
    - ``heartbeat`` (default ``claim_idle / 4``; 0: off): every that many seconds the
      idle time of the entries this consumer holds is reset (``XCLAIM ... JUSTID`` to
      itself, only for entries still its own), so that live workers do not claim each
      other's entries however long they wait in the pipeline. ``read_ahead``: hold at
      most that many entries at once (read, not yet acknowledged); default: as many as
      ``batch`` per stream and the pipeline's buffers allow.
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
    - ``max_deliveries`` (default 5, ``None``: unlimited): an entry delivered more often
      than that without an acknowledgement is not handed over again; it is XADDed to
      ``dead_letter_stream`` (default ``"<its stream>:dead"``) with its fields plus
      ``stream``, ``id``, ``deliveries``, ``reason`` and then XACKed. Entries an error
      policy dead-letters (``on_error=<callable>``) are written there too (with
      ``error``) before they are acknowledged. Each entry carries its delivery count
      (:attr:`RedisEntry.deliveries`); after a restart the consumer's own pending entries
      are re-read one at a time, so a poison entry's neighbours are not charged for it.
    - ``reconnect`` (default 30 s, 0: never): a lost connection is retried with capped
      exponential backoff and jitter for that long, then the run fails with one
      ``ConnectionError`` naming the server (password masked) and how long it tried.
      After reconnecting the source re-reads its own pending entries; reconnects count as
      ``retried`` in the source's stats.

    A graceful stop (``run.stop()``, Ctrl-C with ``handle_signals=True``) stops reading
    after the current XREADGROUP (at most ``block`` seconds), lets the pipeline drain,
    and XACKs everything it handled before returning. After an abort the entries in
    flight stay pending and are redelivered later: at-least-once.

    ``client_or_url``: a ``redis://`` URL (a client is opened and closed per run, with a
    ``connect_timeout``) or a ``coredis.Redis`` client already entered with ``async with``
    (use ``decode_responses=False`` to get malformed entries reported per entry). A Redis
    Cluster: a ``redis+cluster://host:port[,host:port...]`` URL or a ``coredis.RedisCluster``
    client; each stream is then read with an XREADGROUP of its own (a cluster serves one
    slot per command), and ``partition_streams(..., cluster=True)`` spreads partitions over
    the cluster's slots.
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
            f"{who}(): client_or_url must be a redis:// (or redis+cluster://) URL or a "
            f"coredis.Redis (or RedisCluster) client, got {type(client_or_url).__name__}"
        )
    check_int(who, "batch", batch, minimum=1)
    block = check_number(who, "block", block, allow_zero=True)
    claim_idle = check_number(who, "claim_idle", claim_idle)
    interval = claim_idle / 2 if claim_interval is None else claim_interval
    interval = check_number(who, "claim_interval", interval)
    beat = claim_idle / 4 if heartbeat is None else heartbeat
    beat = check_number(who, "heartbeat", beat, allow_zero=True)
    if beat >= claim_idle:
        raise ValueError(
            f"{who}(): heartbeat must be shorter than claim_idle ({claim_idle:g} s; it keeps "
            f"the entries this consumer holds from looking idle), got {beat:g}"
        )
    if read_ahead is not None:
        check_int(who, "read_ahead", read_ahead, minimum=1)
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
    if max_deliveries is not None:
        check_int(who, "max_deliveries", max_deliveries, minimum=1)
    reconnect = check_reconnect(who, reconnect)
    if dead_letter_stream is not None and (
        not isinstance(dead_letter_stream, str) or not dead_letter_stream
    ):
        raise TypeError(
            f"{who}(): dead_letter_stream must be a stream name or None, got {dead_letter_stream!r}"
        )
    if dead_letter_stream is not None and dead_letter_stream in names:
        raise ValueError(
            f"{who}(): dead_letter_stream {dead_letter_stream!r} is one of the streams read"
        )

    async def run(tx: MemoryObjectSendStream[Any], stop: StopState) -> None:
        acks = _Acks()
        try:
            async with open_client(client_or_url, who, connect_timeout) as client:
                try:
                    await _prepare_groups(client, names, group, start_id, create_group=create_group)
                except Exception as exc:
                    reject_moved(exc, who, describe(client_or_url))  # a node of a cluster
                    raise
                letters = _Letters(client, dead_letter_stream)
                again = Reconnect(
                    client, who, describe(client_or_url), reconnect, connect_timeout,
                    stop.source_stats,
                )  # fmt: skip
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_ack_loop, client, group, acks, letters, again)
                    if beat > 0:
                        tg.start_soon(_heartbeat, client, group, consumer, acks, beat, again)
                    reader = _Reader(
                        client, names, group, consumer, tx, stop, acks, letters,
                        batch=batch, block=block, claim_idle=claim_idle,
                        claim_interval=interval, dead_letter=dead_letter, idle_stop=idle_stop,
                        delete_idle=delete_idle_consumers, max_deliveries=max_deliveries,
                        reconnect=again, read_ahead=read_ahead, per_stream=is_cluster(client),
                    )  # fmt: skip
                    await reader.run()
                    # End of input for the pipeline; what is in flight still drains and is
                    # acknowledged (windows flush on end of input), so close our side
                    # first, then wait for those acks.
                    tx.close()
                    await acks.idle.wait()
                    tg.cancel_scope.cancel()
                await _flush_retrying(client, group, acks, letters, again)
        except BaseException:
            # Aborted or failed: still acknowledge what was fully handled, so that only
            # the entries really in flight are redelivered (a poison entry's neighbours
            # must not be charged deliveries for its failures). Bounded and shielded, on
            # a connection of its own: the run's connections went down with the run.
            await _flush_at_abort(
                client_or_url, who, connect_timeout, group, dead_letter_stream, acks.take()
            )
            raise

    source: TaskSource[RedisEntry] = TaskSource(run, who, acknowledged=True)
    return Stream(source)


async def _flush_at_abort(
    client_or_url: ClientOrUrl,
    who: str,
    connect_timeout: float,
    group: str,
    dead_letter_stream: str | None,
    batch: tuple[
        Mapping[str, Sequence[str]], Mapping[tuple[str, str], tuple[RedisEntry, BaseException]]
    ],
) -> None:
    if not batch[0] and not batch[1]:
        return
    with anyio.move_on_after(connect_timeout, shield=True):
        try:
            async with open_client(client_or_url, who, connect_timeout) as client:
                await _flush(client, group, _Letters(client, dead_letter_stream), batch)
        except Exception as exc:
            logger.info("from_redis_stream: acknowledgements lost at abort: %r", exc)


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


async def _ack_loop(
    client: Any, group: str, acks: _Acks, letters: _Letters, reconnect: Reconnect
) -> None:
    """XACK acknowledged ids in batches: whatever arrived while the last XACK ran."""
    while True:
        await acks.wake.wait()
        await _flush_retrying(client, group, acks, letters, reconnect)


async def _flush_retrying(
    client: Any, group: str, acks: _Acks, letters: _Letters, reconnect: Reconnect
) -> None:
    """Flush what is there; on a lost connection, reconnect (or fail) and flush again."""
    while True:
        batch = acks.take()
        try:
            await _flush(client, group, letters, batch)
        except BaseException as exc:
            # Cancelled (the source is ending) or failed half way: give the ids back so
            # the next flush sends them (XACK of an id already acked is harmless).
            acks.give_back(*batch)
            if isinstance(exc, Exception) and reconnect.reconnect and connection_lost(exc):
                await reconnect.recover(exc)
                continue
            raise
        acks.sent(batch[0])
        return


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
        letters: _Letters,
        *,
        batch: int,
        block: float,
        claim_idle: float,
        claim_interval: float,
        dead_letter: str | None,
        idle_stop: float | None,
        delete_idle: float | None = None,
        max_deliveries: int | None = None,
        reconnect: Reconnect | None = None,
        read_ahead: int | None = None,
        per_stream: bool = False,
    ) -> None:
        self.client = client
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self.tx = tx
        self.stop = stop
        self.acks = acks
        self.letters = letters
        self.batch = batch
        self.block_ms = int(block * 1000)
        self.claim_idle_ms = max(1, int(claim_idle * 1000))
        self.claim_interval = claim_interval
        self.dead_letter = dead_letter
        self.idle_stop = idle_stop
        self.delete_idle_ms = None if delete_idle is None else int(delete_idle * 1000)
        self.max_deliveries = max_deliveries
        self.reconnect = reconnect
        self.read_ahead = read_ahead
        # One XREADGROUP per stream (a cluster: streams of different slots).
        self.per_stream = per_stream
        self._last_entry = anyio.current_time()
        self._failure: Exception | None = None  # the first reading loop's failure

    async def run(self) -> None:
        """Read until the end (``idle_stop``, a stop); reconnect when the server goes away.

        After a reconnect the consumer re-reads its own pending entries (skipping those
        still in its pipeline): a reply lost with the connection is not lost for it.
        """
        suspects = True
        while True:
            try:
                await self._read(suspects=suspects)
                return
            except Exception as exc:
                if self.reconnect is None or not self.reconnect.reconnect:
                    raise
                if not connection_lost(exc):
                    raise
                await self.reconnect.recover(exc)
                suspects = False  # what it re-reads now did not fail: no probation

    async def _read(self, *, suspects: bool) -> None:
        # Phase 1: this consumer's own pending entries (a restart after a crash).
        await self._own_pending(probation=suspects)
        # Phase 2: claim from dead consumers now and then; read new entries.
        self._last_entry = anyio.current_time()
        if not self.per_stream or len(self.streams) == 1:
            await self._read_new(self.streams)
            return
        # A cluster serves one slot per command: each stream gets a reading loop of its
        # own (they share the client's pool, the acks and the idle_stop clock). The first
        # failure ends the others after their current read instead of cancelling them:
        # coredis 6.9 leaks a connection cancelled while it connects.
        self._failure = None
        async with anyio.create_task_group() as tg:
            for name in self.streams:
                tg.start_soon(self._read_one, name)
        if self._failure is not None:
            raise self._failure

    async def _read_one(self, stream: str) -> None:
        try:
            await self._read_new([stream])
        except Exception as exc:
            if self._failure is None:
                self._failure = exc

    async def _read_new(self, streams: list[str]) -> None:
        """Claim now and then and read new entries of ``streams`` until the end."""
        next_claim = anyio.current_time()
        new = dict.fromkeys(streams, ">")
        while not self.stop.stopping and self._failure is None:
            now = anyio.current_time()
            if now >= next_claim:
                if await self._claim(streams):
                    self._last_entry = anyio.current_time()  # after the hand-over, as below
                if self.delete_idle_ms is not None:
                    await self._delete_idle_consumers(self.delete_idle_ms, streams)
                next_claim = anyio.current_time() + self.claim_interval
                continue
            block = self.block_ms
            if self.idle_stop is not None:
                left = self._last_entry + self.idle_stop - now
                if left <= 0:
                    return
                block = min(block, max(1, int(left * 1000)))
            block = min(block, max(1, int((next_claim - now) * 1000)))
            count = self.batch
            if self.read_ahead is not None:
                room = self.read_ahead - len(self.acks.in_flight)
                if room <= 0:
                    # Holding as many as allowed: wait for the pipeline to finish some.
                    with anyio.move_on_after(block / 1000):
                        await self.acks.wait_for_room(self.read_ahead)
                    continue
                count = max(1, min(self.batch, room // len(self.streams)))
            # Not cancel-safe: entries a cancelled XREADGROUP delivered would sit in this
            # consumer's pending list without reaching the pipeline. A stop is seen after
            # at most ``block``.
            read = partial(
                self.client.xreadgroup, self.group, self.consumer, new, count=count, block=block
            )
            reply = await self.stop.pull(read, cancel_safe=False)
            if reply is STOPPED:
                return
            replies: Mapping[Any, Sequence[Any]] = reply or {}
            batches = [(as_text(s), entries) for s, entries in replies.items() if entries]
            # The reply's entries of every stream are ours from now on, but they are handed
            # over one stream after the other: while the first stream's wait for a slow
            # pipeline, the heartbeat must keep the later streams' fresh as well, or other
            # workers claim them from this live one after claim_idle.
            waiting = {(stream, as_text(raw.identifier)) for stream, es in batches for raw in es}
            self.acks.reading.update(waiting)
            try:
                for stream, entries in batches:
                    # A new entry (">") is on its first delivery.
                    await self._hand_over(stream, entries, {})
                    # Idle from when the pipeline took the last one: time spent waiting
                    # for it to take them (backpressure) is not idle.
                    self._last_entry = anyio.current_time()
            finally:
                self.acks.reading.difference_update(waiting)

    async def _own_pending(self, *, probation: bool = True) -> None:
        """Re-read the entries delivered to this consumer name and never acknowledged.

        They are suspects: one of them may be what made the last run fail. So they go
        into the pipeline one at a time, the next once the previous one was acknowledged:
        each re-read counts one more delivery (Redis's counter) for that entry only, so
        an entry that keeps failing reaches ``max_deliveries`` on its own while the
        entries queued behind it are not charged for its failures. A pipeline that holds
        an entry for longer than ``_PROBATION`` seconds (a window waiting for more) ends
        this: the rest is re-read ``batch`` at a time.
        """
        history = dict.fromkeys(self.streams, "0")
        window = 1 if probation else self.batch
        while history and not self.stop.stopping:
            handed = 0
            for name in list(history):
                if handed >= window:
                    break
                # Through the stop protocol like the read of new entries (not cancel-safe
                # either: what it returned must reach the pipeline).
                read = partial(
                    self.client.xreadgroup,
                    self.group,
                    self.consumer,
                    {name: history[name]},
                    count=window - handed,
                )
                reply = await self.stop.pull(read, cancel_safe=False)
                if reply is STOPPED:
                    return
                entries = _key(reply or {}, name)
                if not entries:
                    del history[name]  # caught up with this stream's own pending entries
                    continue
                history[name] = as_text(entries[-1].identifier)
                # Reading them again counted one more delivery; XPENDING tells how many.
                counts = await self._deliveries(name, entries)
                handed += await self._hand_over(name, entries, counts)
            if handed and window == 1:
                with anyio.move_on_after(_PROBATION):
                    await self.acks.idle.wait()
                if not self.acks.idle.is_set():
                    window = self.batch  # the pipeline holds entries: no probation

    async def _deliveries(self, stream: str, entries: Sequence[Any]) -> dict[str, int]:
        """Entry id -> delivery count, for entries this consumer holds (XPENDING)."""
        first, last = entries[0].identifier, entries[-1].identifier
        rows = await self.client.xpending(
            stream, self.group, start=first, end=last,
            count=len(entries) + len(self.acks.in_flight), consumer=self.consumer,
        )  # fmt: skip
        return {as_text(row.identifier): int(row.delivered) for row in rows}

    async def _claim(self, streams: list[str]) -> int:
        """Take over every stream's entries pending elsewhere for over ``claim_idle``.

        XPENDING with IDLE lists them (with their owner and delivery count), then XCLAIM
        takes them (checking the idle time again, atomically). The entries this consumer
        itself still has in its pipeline are left alone: claiming them would count
        deliveries that never happened. Returns the number handed over.
        """
        handed = 0
        for stream in streams:
            start = "-"
            while not self.stop.stopping:
                rows = await self.client.xpending(
                    stream, self.group, start=start, end="+", count=self.batch,
                    idle=self.claim_idle_ms,
                )  # fmt: skip
                if not rows:
                    break
                start = "(" + as_text(rows[-1].identifier)
                counts: dict[str, int] = {}
                for row in rows:
                    entry_id = as_text(row.identifier)
                    mine = as_text(row.consumer) == self.consumer
                    if not (mine and self.acks.holds(stream, entry_id)):
                        counts[entry_id] = int(row.delivered) + 1  # + this claim
                if counts:
                    entries = await self.client.xclaim(
                        stream, self.group, self.consumer, self.claim_idle_ms, list(counts)
                    )
                    gone = len(counts) - len(entries)
                    if gone:
                        logger.info(
                            "from_redis_stream: %d of %d long-pending entries of %s were "
                            "claimed by another consumer meanwhile or deleted from the stream",
                            gone, len(counts), stream,
                        )  # fmt: skip
                    if entries:
                        logger.info(
                            "from_redis_stream: %s claimed %d entries of %s idle for over %d ms",
                            self.consumer, len(entries), stream, self.claim_idle_ms,
                        )  # fmt: skip
                        handed += await self._hand_over(stream, entries, counts)
                if len(rows) < self.batch:
                    break
        return handed

    async def _delete_idle_consumers(self, idle_ms: int, streams: list[str]) -> int:
        """XGROUP DELCONSUMER the group's idle consumers without pending entries."""
        removed = 0
        for stream in streams:
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

    async def _hand_over(
        self, stream: str, entries: Sequence[Any], counts: Mapping[str, int]
    ) -> int:
        """Send ``entries`` down the pipeline; ``counts``: their delivery counts (else 1)."""
        acks = self.acks
        handed = 0
        waiting = [(stream, as_text(raw.identifier)) for raw in entries]
        acks.reading.update(waiting)
        try:
            for raw in entries:
                handed += await self._hand_over_one(stream, raw, counts)
                acks.reading.discard((stream, as_text(raw.identifier)))
        finally:
            acks.reading.difference_update(waiting)
        return handed

    async def _hand_over_one(self, stream: str, raw: Any, counts: Mapping[str, int]) -> int:
        """Hand one entry over (1), or skip it or set it aside (0)."""
        acks = self.acks
        entry_id = as_text(raw.identifier)
        if acks.holds(stream, entry_id):
            return 0  # our own, still in the pipeline (re-read after a reconnect)
        values = raw.field_values
        if values is None:
            # Deleted from the stream (XDEL, trimming) while pending: nothing to do.
            acks.ack(stream, entry_id)
            return 0
        deliveries = counts.get(entry_id, 1)
        if self.max_deliveries is not None and deliveries > self.max_deliveries:
            # Delivered max_deliveries times and never acknowledged: set it aside
            # (durably, then acknowledge it) so that the entries behind it proceed.
            await self.letters.write(
                stream, entry_id, values, deliveries=deliveries,
                reason="max_deliveries", error=None,
            )  # fmt: skip
            acks.ack(stream, entry_id)
            if self.stop.source_stats is not None:
                self.stop.source_stats.dead_lettered += 1
            return 0
        try:
            fields = {as_text(k): as_text(v) for k, v in values.items()}
        except UnicodeDecodeError as exc:
            await self._malformed(stream, entry_id, values, exc)
            return 0
        entry = RedisEntry(stream, entry_id, fields, deliveries)
        acks.handed(stream, entry_id)
        await send(self.tx, acks.acked(entry))
        return 1

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
        if self.stop.source_stats is not None:
            self.stop.source_stats.drop("malformed")
        logger.warning(
            "from_redis_stream: malformed entry %s of %s moved to %s: %s",
            entry_id, stream, self.dead_letter, exc,
        )  # fmt: skip


async def _heartbeat(
    client: Any, group: str, consumer: str, acks: _Acks, interval: float, again: Reconnect
) -> None:
    """Every ``interval`` s, reset the idle time of the entries this consumer holds.

    An entry's idle time is what other consumers' claims compare with ``claim_idle``; it
    starts when the entry is read, so without this an entry that waits long in a healthy
    pipeline (a slow stage behind a deep read-ahead) would be claimed and processed
    twice. ``XCLAIM ... JUSTID`` to ourselves resets it without counting a delivery; the
    script does it only for entries still ours (never takes one back from a consumer that
    claimed it meanwhile).
    """
    while True:
        await anyio.sleep(interval)
        held: dict[str, list[str]] = {}
        for stream, entry_id in acks.in_flight | acks.acking | acks.reading:
            held.setdefault(stream, []).append(entry_id)
        try:
            for stream, ids in held.items():
                for start in range(0, len(ids), 500):
                    await client.eval(
                        _KEEP_MINE, keys=[stream], args=[group, consumer, *ids[start : start + 500]]
                    )
        except Exception as exc:
            if not (again.reconnect and connection_lost(exc)):
                raise
            await again.recover(exc)


# Reset the idle time of the given entries, each only if this consumer still holds it.
_KEEP_MINE = """
local kept = 0
for i = 3, #ARGV do
    local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if #row > 0 and row[1][2] == ARGV[2] then
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
        kept = kept + 1
    end
end
return kept
"""

# How long the re-reading of own pending entries waits for a group to be acknowledged
# before it sends the next one anyway (a pipeline may hold entries until more arrive).
_PROBATION = 2.0

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
