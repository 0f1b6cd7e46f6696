"""What every Redis module of the connector needs, and nothing else: the import, masking,
and the pool fix for coredis's connection buffers.

Kept apart so that ``_redis_client`` and ``_redis_cluster`` both build on it without
importing each other.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["closing_pool", "import_coredis", "masked_url"]


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


def closing_pool(base: Any, method: str) -> Any:
    """coredis's pool class ``base``, closing the buffers of connections that never connected.

    A coredis 6.9 connection creates memory streams when it is made and closes them only
    once it has connected, so one cancelled while it connects (the run ended while the
    acknowledgement task opened a second connection, a cluster reader failed) leaves them
    for the garbage collector and a ResourceWarning. The pool runs each connection in a
    task of its own, ``method`` (``_wrap_connection`` for a cluster's pool, the
    name-mangled ``_ConnectionPool__wrap_connection`` for a plain one); the subclass
    closes the connection's memory streams when that task ends, however it ends. Another
    coredis without that method gets its own pool back, unchanged.
    """
    run_connection: Any = getattr(base, method, None)
    if run_connection is None:
        return base

    async def run_and_close(self: Any, connection: Any, **kwargs: Any) -> None:
        try:
            await run_connection(self, connection, **kwargs)
        finally:
            for value in list(vars(connection).values()):
                if isinstance(value, MemoryObjectSendStream | MemoryObjectReceiveStream):
                    value.close()

    return type(base.__name__, (base,), {method: run_and_close})
