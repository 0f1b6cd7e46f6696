"""Redis Streams plumbing shared by the source and the sink: entries, partitions, clients.

See :mod:`anystream.connectors.redis` for the design; coredis is imported only when a
client is opened.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import ssl
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlsplit

import anyio

from .._core.callables import check_int
from ._redis_base import closing_pool, import_coredis, masked_url
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
    "tls_context",
    "with_tls_ca",
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

    A ``rediss://`` URL connects over TLS, configured by its query (see
    :func:`tls_context`); the probe does the TLS handshake itself, so a certificate that
    does not verify, or a port that does not speak TLS, fails within ``connect_timeout``
    with the TLS reason in the first line of the message.
    """
    if not isinstance(client_or_url, str):
        yield client_or_url
        return
    coredis = import_coredis(who)
    url = client_or_url
    cluster = is_cluster_url(url)
    context = None if cluster else tls_context(url, who)
    if cluster:
        await probe_cluster(url, who, connect_timeout)
    else:
        await _probe(url, who, connect_timeout, context)
    # coredis builds a TLS context of its own from the URL unless it is given one: give
    # it ours, so that the probe and the client verify the server the same way.
    tls: dict[str, Any] = {} if context is None else {"ssl_context": context}
    try:
        client = (
            open_cluster(url, who, connect_timeout)
            if cluster
            else coredis.Redis(
                connection_pool=_plain_pool_class(coredis).from_url(
                    url,
                    decode_responses=False,
                    connect_timeout=connect_timeout,
                    decode_components=True,
                    **tls,
                ),
                decode_responses=False,
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
        tls_failure = _tls_failure(found)
        if tls_failure is not None:
            raise ConnectionError(_tls_message(who, url, tls_failure)) from tls_failure
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {masked_url(url)!r} "
            f"within {connect_timeout:g} s: {found}"
        ) from found
    finally:
        if cluster:
            release_cluster(client)


@functools.cache
def _plain_pool_class(coredis: Any) -> Any:
    """coredis's plain pool, closing the buffers of a connection cancelled mid-connect."""
    return closing_pool(coredis.pool.ConnectionPool, "_ConnectionPool__wrap_connection")


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


async def _probe(
    url: str, who: str, connect_timeout: float, context: ssl.SSLContext | None = None
) -> None:
    """Fail fast, before coredis is involved, when the server cannot be talked to.

    Within ``connect_timeout`` in all: connect over TCP, then either do the TLS handshake
    (``rediss://``, with ``context``) or send an inline ``PING`` (``redis://``) and read
    the first bytes of the answer. Each way of failing gets its own reason: nothing
    listens, the certificate does not verify, the port speaks plain text to a TLS client
    or TLS to a plain one, or the server does not answer at all.

    Besides giving a clear error at once, this avoids coredis 6.9 leaking the memory
    streams of a connection that never connected (a ResourceWarning per attempt).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return
    host, port = parts.hostname or "localhost", parts.port or 6379
    where = masked_url(url)
    step = "connect"
    try:
        with anyio.fail_after(connect_timeout):
            stream = await anyio.connect_tcp(host, port)
            try:
                if context is None:
                    step = "ping"
                    await _plain_answers(stream)
                else:
                    step = "tls"
                    await _tls_handshake(stream, host, port, context, connect_timeout)
            finally:
                await stream.aclose()
    except _NotTLS:
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {where!r} within {connect_timeout:g} s: "
            f"the server answers in plain text, not TLS (use redis://, or the port of "
            f"the server's --tls-port)"
        ) from None
    except ssl.SSLError as exc:
        raise ConnectionError(_tls_message(who, url, exc)) from exc
    except TimeoutError as exc:
        reason = {
            "connect": "the TCP connection timed out",
            "ping": "connected, but the server did not answer PING",
            "tls": "the TLS handshake got no answer (a plain-text port does not answer "
            "a TLS client: is this the server's --tls-port?)",
        }[step]
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {where!r} within {connect_timeout:g} s: {reason}"
        ) from exc
    except _HungUp as exc:
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {where!r} within {connect_timeout:g} s: "
            f"the server closed the connection without answering PING (a TLS port? use "
            f"rediss://, with ?ssl_ca_certs=PATH for a private CA)"
        ) from exc.__cause__
    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        if step == "connect":
            reason = _connect_failure(exc)
        else:
            # The server hung up instead of answering: a server that wants a client
            # certificate may do that rather than send an alert.
            reason = (
                "the server closed the TLS connection without answering PING (if it "
                "asks for a client certificate, give one with "
                "?ssl_certfile=PATH&ssl_keyfile=PATH)"
            )
        raise ConnectionError(
            f"{who}: cannot connect to Redis at {where!r} within {connect_timeout:g} s: {reason}"
        ) from exc


def _connect_failure(exc: BaseException) -> str:
    """Why a TCP connection failed, in the same words on every backend.

    anyio says "All connection attempts failed" and keeps the reason (worded by the
    backend) as the cause: name the reason by its errno instead.
    """
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    errno = getattr(cause, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return f"{os.strerror(errno)} (errno {errno})"
    return str(exc) or type(exc).__name__


# -- TLS ---------------------------------------------------------------------------------------

#: The query options of a ``rediss://`` URL (coredis's names, so that a URL that works
#: with coredis works here too), with what each one holds.
_TLS_OPTIONS = {
    "ssl_ca_certs": "a CA certificate file (PEM) or a directory of them",
    "ssl_certfile": "the client's certificate (PEM), for servers that check clients",
    "ssl_keyfile": "the client's private key (PEM), if not in ssl_certfile",
    "ssl_cert_reqs": "required (default), optional or none",
    "ssl_check_hostname": "true (default unless ssl_cert_reqs=none) or false",
}
_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class _NotTLS(Exception):
    """The server answered a TLS client in plain-text RESP."""


class _HungUp(Exception):
    """The server closed a plain-text connection without answering (a TLS port)."""


def tls_context(url: str, who: str) -> ssl.SSLContext | None:
    """The TLS context of a ``rediss://`` URL, or ``None`` for any other URL.

    The URL's query configures it (percent-encode a path that holds ``&`` or ``#``):

    - ``ssl_ca_certs=PATH``: trust the CA(s) in that PEM file or directory *instead of*
      the system's (the way to trust a self-signed CA); default: the system's CAs.
    - ``ssl_certfile=PATH`` and ``ssl_keyfile=PATH``: a client certificate, for a server
      started with ``--tls-auth-clients yes``.
    - ``ssl_cert_reqs=required|optional|none``: ``required`` by default; ``none`` turns
      verification off (and hostname checking with it): for tests only.
    - ``ssl_check_hostname=true|false``: the certificate must name the URL's host (its
      DNS name or IP address in subjectAltName); ``true`` unless ``ssl_cert_reqs=none``.

    Every ``ssl_*`` option is checked: an unknown or repeated one, a bad value, an option
    in a ``redis://`` URL (where it would be ignored), a file that is missing or holds no
    certificate: each is an error naming the option, before anything connects.
    """
    parts = urlsplit(url)
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if not name.startswith(("ssl_", "tls_")):
            continue
        if name not in _TLS_OPTIONS:
            known = "; ".join(f"{k}: {v}" for k, v in _TLS_OPTIONS.items())
            raise ValueError(
                f"{who}: unknown TLS option {name!r} in the Redis URL {masked_url(url)!r}"
                f" (known: {known})"
            )
        if name in options:
            raise ValueError(f"{who}: {name} given twice in the Redis URL {masked_url(url)!r}")
        if not value:
            raise ValueError(f"{who}: {name} is empty in the Redis URL {masked_url(url)!r}")
        options[name] = value
    if parts.scheme != "rediss":
        if options:
            raise ValueError(
                f"{who}: {', '.join(options)} in a {parts.scheme}:// URL would be ignored:"
                f" TLS needs a rediss:// URL ({masked_url(url)!r})"
            )
        return None
    return _build_tls_context(url, who, options)


def with_tls_ca(url: str, ca: str | None, who: str) -> str:
    """``url`` with ``ssl_ca_certs=ca`` added to its query (``url`` itself for ``None``).

    For command lines that take the CA as an option of its own: the URL must be a
    ``rediss://`` one, and the CA is checked with the URL's other options when a
    client is opened.
    """
    if ca is None:
        return url
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        raise ValueError(f"{who}: a TLS CA needs a rediss:// URL, got {masked_url(url)!r}")
    option = f"ssl_ca_certs={quote(ca, safe='/')}"
    query = f"{parts.query}&{option}" if parts.query else option
    return parts._replace(query=query).geturl()


def _build_tls_context(url: str, who: str, options: Mapping[str, str]) -> ssl.SSLContext:
    where = masked_url(url)
    reqs_text = options.get("ssl_cert_reqs", "required").lower()
    if reqs_text not in _CERT_REQS:
        raise ValueError(
            f"{who}: ssl_cert_reqs must be required, optional or none, got "
            f"{options['ssl_cert_reqs']!r} in the Redis URL {where!r}"
        )
    cert_reqs = _CERT_REQS[reqs_text]
    check_text = options.get("ssl_check_hostname")
    if check_text is None:
        check_hostname = cert_reqs != ssl.CERT_NONE
    elif check_text.lower() in _BOOLEANS:
        check_hostname = _BOOLEANS[check_text.lower()]
    else:
        raise ValueError(
            f"{who}: ssl_check_hostname must be true or false, got {check_text!r} in the "
            f"Redis URL {where!r}"
        )
    if check_hostname and cert_reqs == ssl.CERT_NONE:
        raise ValueError(
            f"{who}: ssl_check_hostname=true needs a verified certificate, but "
            f"ssl_cert_reqs=none turns verification off ({where!r})"
        )
    if "ssl_keyfile" in options and "ssl_certfile" not in options:
        raise ValueError(f"{who}: ssl_keyfile without ssl_certfile in the Redis URL {where!r}")
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        path = options.get(name)
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(
                f"{who}: {name} {path!r} of the Redis URL {where!r} does not exist"
            )
    ca = options.get("ssl_ca_certs")
    try:
        # Given CAs replace the system's: create_default_context() loads the system's
        # only when it is given none.
        if ca is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        elif os.path.isdir(ca):
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, capath=ca)
        else:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except ssl.SSLError as exc:
        raise ValueError(
            f"{who}: ssl_ca_certs {ca!r} of the Redis URL {where!r} holds no usable CA "
            f"certificate: {exc.reason or exc}"
        ) from exc
    certfile = options.get("ssl_certfile")
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, options.get("ssl_keyfile"))
        except ssl.SSLError as exc:
            raise ValueError(
                f"{who}: cannot load the client certificate {certfile!r} of the Redis URL "
                f"{where!r}: {exc.reason or exc}"
            ) from exc
    context.check_hostname = check_hostname
    context.verify_mode = cert_reqs
    return context


async def _tls_handshake(
    stream: Any, host: str, port: int, context: ssl.SSLContext, connect_timeout: float
) -> None:
    """Do the TLS handshake over ``stream`` and send a ``PING``; ``_NotTLS`` for plain text.

    Any answer to the PING will do (``+PONG``, ``-NOAUTH ...``): coredis deals with it.

    A plain-text Redis port reads a TLS ClientHello as the start of an inline command
    and waits for the rest of its line: the handshake would only end at the deadline.
    So once it has taken longer than a handshake should (a quarter of the timeout, at
    most 0.5 s), a second connection asks the port a plain ``PING``; an answer in RESP
    ends the wait at once. (Asking only then keeps a TLS server's log free of failed
    plain-text connections.)
    """
    from anyio.streams.tls import TLSStream

    plain = False

    async def sniff() -> None:
        nonlocal plain
        await anyio.sleep(min(0.5, connect_timeout / 4))
        if await _speaks_plain_resp(host, port):
            plain = True
            group.cancel_scope.cancel()

    failure: BaseException | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(sniff)
        try:
            tls = await TLSStream.wrap(
                stream, hostname=host, ssl_context=context, standard_compatible=False
            )
            try:
                # In TLS 1.3 the server checks the client's certificate after the
                # client's side of the handshake is over: its verdict comes with the
                # first answer.
                await tls.send(b"PING\r\n")
                await tls.receive(64)
            finally:
                await tls.aclose()
        except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            # Raised outside the task group, so that it is not wrapped in a group.
            failure = exc
        group.cancel_scope.cancel()
    if plain:
        raise _NotTLS
    if failure is not None:
        raise failure


async def _speaks_plain_resp(host: str, port: int) -> bool:
    """Whether the server at ``host:port`` answers an inline ``PING`` in RESP."""
    try:
        stream = await anyio.connect_tcp(host, port)
    except OSError:
        return False
    try:
        await stream.send(b"PING\r\n")
        data = await stream.receive(64)
    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream):
        return False
    finally:
        await stream.aclose()
    # "+PONG", or an error such as "-NOAUTH": a TLS server never sends either.
    return data[:1] in (b"+", b"-")


async def _plain_answers(stream: Any) -> None:
    """Send an inline ``PING`` and read the first bytes of whatever comes back.

    Any answer will do (``+PONG``, ``-NOAUTH ...``, ``-LOADING ...``): coredis deals
    with it. What is caught here is a server that answers in TLS or hangs up at once:
    a TLS port, which a ``redis://`` URL cannot talk to.
    """
    try:
        await stream.send(b"PING\r\n")
        data = await stream.receive(64)
    except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        raise _HungUp from exc
    if data[:1] == b"\x15":  # a TLS alert record
        raise _HungUp


def _tls_failure(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS error behind ``exc``: itself, a leaf of its group, or one it was raised from."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", exc)
            for inner in group.exceptions:
                found = _tls_failure(inner)
                if found is not None:
                    return found
            return None
        exc = exc.__cause__ or exc.__context__
    return None


def _tls_text(exc: ssl.SSLError) -> str:
    """The TLS reason in one line: ``CERTIFICATE_VERIFY_FAILED: <what OpenSSL says>``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"{exc.reason}: {exc.verify_message.rstrip('.')}"
    if exc.reason:
        return str(exc.reason)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


#: What to do about the commonest TLS failures (OpenSSL's X509_V_ERR_* codes and reasons).
_TLS_HINTS = {
    18: "give the CA that signed the server's certificate with ?ssl_ca_certs=PATH",
    19: "give the CA that signed the server's certificate with ?ssl_ca_certs=PATH",
    20: "give the CA that signed the server's certificate with ?ssl_ca_certs=PATH",
    21: "give the CA that signed the server's certificate with ?ssl_ca_certs=PATH",
    62: "connect by a name the certificate holds, or turn the check off with "
    "?ssl_check_hostname=false",
    64: "connect by an address the certificate holds, or turn the check off with "
    "?ssl_check_hostname=false",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server asks for a client certificate: give "
    "one with ?ssl_certfile=PATH&ssl_keyfile=PATH",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "if the server asks for a client certificate, give "
    "one with ?ssl_certfile=PATH&ssl_keyfile=PATH",
    "WRONG_VERSION_NUMBER": "the server does not speak TLS on this port (a plain-text "
    "port? use redis://)",
    "RECORD_LAYER_FAILURE": "the server does not speak TLS on this port (a plain-text "
    "port? use redis://)",
}


def _tls_message(who: str, url: str, exc: ssl.SSLError) -> str:
    """One line: the server (password masked), the TLS reason, and what to do about it."""
    hint: str | None = None
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = _TLS_HINTS.get(exc.verify_code)
    if hint is None and exc.reason:
        hint = _TLS_HINTS.get(str(exc.reason))
    reason = _tls_text(exc) if hint is None else f"{_tls_text(exc)}; {hint}"
    return f"{who}: cannot connect to Redis at {masked_url(url)!r}: TLS failed: {reason}"


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
    tls = _tls_failure(exc)
    if tls is not None:
        # coredis reports "Unable to establish a connection"; the reason is its cause.
        return f"TLS failed: {_tls_text(tls)}"
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def as_text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")
