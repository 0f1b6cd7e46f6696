"""Redis Streams plumbing shared by the source and the sink: entries, partitions, clients.

See :mod:`anystream.connectors.redis` for the design; coredis is imported only when a
client is opened.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._core.callables import check_int

__all__ = [
    "ClientOrUrl",
    "FieldValue",
    "RedisEntry",
    "as_text",
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
    """One stream entry: the stream (partition) it is in, its id, and its fields."""

    stream: str
    id: str
    fields: Mapping[str, str]


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


def partition_streams(stream: str, partitions: int) -> list[str]:
    """The stream names ``to_redis_stream(..., partitions=n)`` writes: ``stream:0`` ... ."""
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
    await _probe(url, who, connect_timeout)
    try:
        client = coredis.Redis.from_url(
            url,
            decode_responses=False,
            connect_timeout=connect_timeout,
            decode_components=True,
        )
    except ValueError:
        # coredis's own message may quote the URL: keep it out, the masked URL says which.
        raise ValueError(f"{who}: not a Redis URL: {masked_url(url)!r}") from None
    entered = False
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


def _auth_error(exc: BaseException, coredis: Any) -> BaseException | None:
    """The first authentication failure among ``exc`` and its group's leaves."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _auth_error(inner, coredis)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, coredis.exceptions.AuthenticationError) else None


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


def as_text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")
