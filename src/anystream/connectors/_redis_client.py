"""Redis Streams plumbing shared by the source and the sink: entries, partitions, clients.

See :mod:`anystream.connectors.redis` for the design; coredis is imported only when a
client is opened.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._core.callables import check_int
from ._redis_cluster import (
    cluster_partition_streams,
    cluster_where,
    is_cluster,
    is_cluster_url,
    open_cluster,
    primaries_answer,
    probe_cluster,
    release_cluster,
)

__all__ = [
    "ClientOrUrl",
    "FieldValue",
    "Reconnect",
    "RedisEntry",
    "as_text",
    "check_reconnect",
    "connection_lost",
    "describe",
    "import_coredis",
    "logger",
    "masked_url",
    "open_client",
    "partition_for",
    "partition_streams",
    "stable_hash",
]
logger = logging.getLogger("anystream.connectors.redis")

#: A coredis client (``coredis.Redis``) already entered with ``async with``, or a URL.
ClientOrUrl = Any

FieldValue = str | bytes | int | float


@dataclass(frozen=True, slots=True)
class RedisEntry:
    """One stream entry: the stream (partition) it is in, its id, and its fields.

    ``deliveries`` is how many times the consumer group has delivered it so far, this
    delivery included (Redis's delivery counter): 1 for a fresh entry, more for one
    re-read after a crash or claimed from another consumer. An entry written by
    ``to_redis_stream`` has 1.
    """

    stream: str
    id: str
    fields: Mapping[str, str]
    deliveries: int = 1


# -- partitioning ---------------------------------------------------------------------------


def stable_hash(key: object) -> int:
    """A hash of ``key`` that is the same in every process (CRC-32 of its UTF-8 text).

    Python's ``hash()`` of a string changes from one process to the next (hash
    randomisation), so it cannot route keys to partitions that several processes share.
    ``bytes`` are hashed as they are, anything else as ``str(key)``.
    """
    data = key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")
    return zlib.crc32(data)


def partition_for(key: object, partitions: int) -> int:
    """The partition number (``0 <= n < partitions``) of ``key``."""
    check_int("partition_for", "partitions", partitions, minimum=1)
    return stable_hash(key) % partitions


def partition_streams(stream: str, partitions: int, *, cluster: bool = False) -> list[str]:
    """The stream names ``to_redis_stream(..., partitions=n)`` writes: ``stream:0`` ... .

    ``cluster=True``: the names it writes on a Redis Cluster, ``stream:{0}``,
    ``stream:{1-3}``, ...: hash-tagged so that the partitions spread evenly over the
    cluster's 16384 slots, hence over its primaries (see ``docs/redis.md``, Cluster).
    """
    if cluster:
        return cluster_partition_streams(stream, partitions)
    check_int("partition_streams", "partitions", partitions, minimum=1)
    return [f"{stream}:{n}" for n in range(partitions)]


# -- clients --------------------------------------------------------------------------------


def import_coredis(who: str) -> Any:
    try:
        import coredis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{who} needs the coredis package: pip install 'anystream[redis]'"
        ) from exc
    return coredis


def masked_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs.

    Only the password goes: the user name and the server stay, since they are what an
    operator needs to tell which credentials and which server a message is about.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, sep, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***{sep}{hostport}").geturl()


def describe(client_or_url: ClientOrUrl) -> str:
    """The server of a URL (password masked) or of a client (``host:port``), for messages."""
    if isinstance(client_or_url, str):
        return masked_url(client_or_url)
    if is_cluster(client_or_url):
        return cluster_where(client_or_url)
    location = getattr(getattr(client_or_url, "connection_pool", None), "location", None)
    host, port = getattr(location, "host", None), getattr(location, "port", None)
    if host is not None:
        return f"{host}:{port}"
    return type(client_or_url).__name__


def _connection_error(exc: BaseException) -> BaseException | None:
    """The first connection or timeout failure among ``exc`` and its group's leaves."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _connection_error(inner)
            if found is not None:
                return found
        return None
    coredis = import_coredis("anystream.connectors.redis")
    errors = (coredis.exceptions.ConnectionError, ConnectionError, TimeoutError, OSError)
    return exc if isinstance(exc, errors) else None


@asynccontextmanager
async def open_client(
    client_or_url: ClientOrUrl, who: str, connect_timeout: float
) -> AsyncIterator[Any]:
    """Use the caller's client as it is, or open (and close) one for a URL.

    A URL's client checks the connection with a PING before anything else, so that an
    unreachable server is a ``ConnectionError`` within ``connect_timeout`` seconds, not
    a hang. A percent-encoded user name or password in the URL is decoded (so that a
    password may hold ``@ : / #``), and every message shows the URL with its password
    masked.
    """
    if not isinstance(client_or_url, str):
        yield client_or_url
        return
    coredis = import_coredis(who)
    url = client_or_url
    cluster = is_cluster_url(url)
    if cluster:
        await probe_cluster(url, who, connect_timeout)
    else:
        await _probe(url, who, connect_timeout)
    try:
        client = (
            open_cluster(url, who, connect_timeout)
            if cluster
            else coredis.Redis.from_url(
                url,
                decode_responses=False,
                connect_timeout=connect_timeout,
                decode_components=True,
            )
        )
    except ValueError:
        # coredis's own message may quote the URL: keep it out, the masked URL says which.
        raise ValueError(f"{who}: not a Redis URL: {masked_url(url)!r}") from None
    # A cluster client connects (discovers the nodes) as it is entered, a plain one later.
    entered = cluster
    try:
        async with client:
            entered = True
            with anyio.fail_after(connect_timeout + 1.0):
                await client.ping()
            entered = False  # connected: errors from here on are not connection errors
            yield client
    except Exception as exc:
        refused = _auth_error(exc, coredis) if entered else None
        if refused is not None:
            raise PermissionError(
                f"{who}: Redis at {masked_url(url)!r} refused the credentials: {refused}"
            ) from refused
        found = _connection_error(exc) if entered else None
        if found is None:
            raise
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {masked_url(url)!r} "
            f"within {connect_timeout:g} s: {found}"
        ) from found
    finally:
        if cluster:
            release_cluster(client)


def _auth_error(exc: BaseException, coredis: Any) -> BaseException | None:
    """The first authentication failure among ``exc`` and its group's leaves."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _auth_error(inner, coredis)
            if found is not None:
                return found
        return None
    refused: BaseException = exc  # (coredis is Any: isinstance would make exc Any too)
    if isinstance(exc, coredis.exceptions.AuthenticationError):
        return refused
    # A cluster client reports a refused discovery as "cannot be connected", caused by it.
    cause = exc.__cause__
    return _auth_error(cause, coredis) if cause is not None else None


async def _probe(url: str, who: str, connect_timeout: float) -> None:
    """Fail fast, before coredis is involved, when nothing accepts TCP connections.

    Besides giving a clear error at once, this avoids coredis 6.9 leaking the memory
    streams of a connection that never connected (a ResourceWarning per attempt).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return
    host, port = parts.hostname or "localhost", parts.port or 6379
    try:
        with anyio.fail_after(connect_timeout):
            stream = await anyio.connect_tcp(host, port)
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {masked_url(url)!r} "
            f"within {connect_timeout:g} s: {reason}"
        ) from exc
    await stream.aclose()


# -- reconnecting ------------------------------------------------------------------------------


def connection_lost(exc: BaseException) -> bool:
    """``exc`` (or a leaf of its group) says the connection to the server is gone.

    A server still loading its data after a restart (``LOADING``) counts too: it will
    answer once it has loaded; so does a cluster that is down (``CLUSTERDOWN``).
    """
    if isinstance(exc, BaseExceptionGroup):
        return any(connection_lost(inner) for inner in exc.exceptions)
    if _connection_error(exc) is not None:
        return True
    coredis = import_coredis("anystream.connectors.redis")
    # A cluster whose node just came back says CLUSTERDOWN until the nodes agree again.
    return isinstance(
        exc, coredis.exceptions.BusyLoadingError | coredis.exceptions.ClusterDownError
    )


def check_reconnect(who: str, reconnect: object) -> float:
    """Validate a ``reconnect`` argument: seconds >= 0 (0: fail at the first loss)."""
    if isinstance(reconnect, bool) or not isinstance(reconnect, int | float):
        raise TypeError(
            f"{who}(): reconnect must be a number of seconds (0 to never reconnect), "
            f"got {reconnect!r}"
        )
    value = float(reconnect)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{who}(): reconnect must be a finite number of seconds >= 0, got {reconnect!r}"
        )
    return value


class Reconnect:
    """Waits for a lost server to answer again, with capped exponential backoff and jitter.

    ``recover(exc)`` PINGs the server (each attempt within ``connect_timeout``), backing
    off between attempts as the project's :class:`~anystream.resilience.Retry` policy says
    (0.05 s doubling up to 2 s, full jitter), for at most ``reconnect`` seconds in all;
    then it raises one ``ConnectionError`` naming the server (password masked), how long
    it tried and the last failure. coredis opens new connections by itself, so the
    caller just carries on (and re-reads what it may have missed). Several tasks of one
    operator share one ``Reconnect``: one of them PINGs, the others wait for its outcome;
    ``count`` is the number of recoveries (the operator's stats count them as retries).
    """

    def __init__(
        self,
        client: Any,
        who: str,
        where: str,
        reconnect: float,
        connect_timeout: float,
        stats: Any = None,
    ) -> None:
        from ..resilience.retry import Retry

        self.client = client
        self.who = who
        self.where = where
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.stats = stats
        self.count = 0
        self.policy = Retry(attempts=1_000_000, base_delay=0.05, max_delay=2.0)
        self._lock = anyio.Lock()
        self._failed: ConnectionError | None = None
        self._last_recovery = -math.inf

    async def recover(self, exc: BaseException) -> None:
        """Return once the server answers again; raise ``ConnectionError`` when it does not."""
        async with self._lock:
            if self._failed is not None:
                raise self._failed
            if anyio.current_time() - self._last_recovery < 0.5 and await self._ping():
                return  # another task of ours has just reconnected
            started = anyio.current_time()
            last: BaseException = exc
            attempt = 0
            logger.warning(
                "%s: lost the connection to Redis at %s (%s); reconnecting for up to %g s",
                self.who, self.where, _reason(exc), self.reconnect,
            )  # fmt: skip
            while True:
                attempt += 1
                delay = self.policy.delay(attempt)
                if anyio.current_time() + delay - started > self.reconnect:
                    tried = anyio.current_time() - started
                    self._failed = ConnectionError(
                        f"{self.who}: lost the connection to Redis at {self.where!r} and could "
                        f"not reconnect: tried for {tried:.1f} s (reconnect={self.reconnect:g}),"
                        f" {attempt - 1} attempts; last error: {_reason(last)}"
                    )
                    raise self._failed from None
                await anyio.sleep(delay)
                try:
                    await self._answers()
                except Exception as error:
                    if not connection_lost(error) and not isinstance(error, TimeoutError):
                        raise
                    last = error
                    continue
                break
            self.count += 1
            self._last_recovery = anyio.current_time()
            if self.stats is not None:
                self.stats.retried += 1
            logger.warning(
                "%s: reconnected to Redis at %s after %.1f s",
                self.who, self.where, anyio.current_time() - started,
            )  # fmt: skip

    async def _answers(self) -> None:
        """PING, after checking that something accepts TCP connections at all.

        coredis 6.9 leaks the memory streams of a connection that never connected (a
        ResourceWarning per attempt), so while nothing listens the PING is not tried.
        On a cluster every primary it knows must accept connections.
        """
        if is_cluster(self.client):
            await primaries_answer(self.client, self.connect_timeout)
            return
        location = getattr(getattr(self.client, "connection_pool", None), "location", None)
        host, port = getattr(location, "host", None), getattr(location, "port", None)
        with anyio.fail_after(self.connect_timeout):
            if isinstance(host, str) and isinstance(port, int):
                stream = await anyio.connect_tcp(host, port)
                await stream.aclose()
            await self.client.ping()

    async def _ping(self) -> bool:
        try:
            await self._answers()
        except Exception:
            return False
        return True


def _reason(exc: BaseException) -> str:
    """One line about ``exc`` (the first connection failure of a group): type and message."""
    if isinstance(exc, BaseExceptionGroup):
        inner = _connection_error(exc)
        return _reason(inner if inner is not None else exc.exceptions[0])
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def as_text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")
