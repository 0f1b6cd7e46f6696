"""Redis over TLS (``rediss://``) against a real TLS-only redis-server, asyncio and trio.

The server's certificate is signed by a self-signed CA that ``openssl`` makes for the
session (see redis_tls.py beside this file). A round trip through ``to_redis_stream`` and
``from_redis_stream`` works when the URL names the CA (``?ssl_ca_certs=``), with an ACL
user whose password is percent-encoded too. Every way of getting TLS wrong fails with one
``ConnectionError`` whose first line names the reason and the server (password masked),
the same on both backends, and within the connect timeout when the port speaks the
other protocol, is closed, or never answers.
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest

import anystream as a
from anystream.connectors._redis_client import tls_context
from anystream.connectors.redis import from_redis_stream, to_redis_stream


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_tls = _load("anystream_redis_tls_fixture", Path(__file__).parent / "redis_tls.py")
tls_redis_server = _tls.tls_redis_server
tls_redis = _tls.tls_redis
tls_command = _tls.tls_command
start_tls_server = _tls.start_tls_server
free_port = _tls.free_port

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock, pytest.mark.timeout(60)]

PASSWORD = "tls p@ss:w/rd#1%"
SECRET_PARTS = ("tls p@ss", quote(PASSWORD, safe=""))


@pytest.fixture
def alice(tls_redis: Any) -> Iterator[str]:
    """An ACL user ``alice`` with a password that must be percent-encoded; her userinfo."""
    tls_command(tls_redis, "ACL", "SETUSER", "alice", "reset", "on", f">{PASSWORD}")
    tls_command(tls_redis, "ACL", "SETUSER", "alice", "~*", "&*", "+@all")
    try:
        yield f"alice:{quote(PASSWORD, safe='')}"
    finally:
        tls_command(tls_redis, "ACL", "DELUSER", "alice")


def _int(server: Any, *args: str) -> int:
    reply = tls_command(server, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def _pending(server: Any, stream: str, group: str) -> int:
    reply = tls_command(server, "XPENDING", stream, group)
    return int(reply.split(b"\r\n")[1][1:])


def _no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        for part in SECRET_PARTS:
            assert part not in text


async def _fails(url: str, connect_timeout: float = 3.0) -> tuple[BaseException, float]:
    """The error from_redis_stream and to_redis_stream raise for ``url``, and how long."""
    errors: list[BaseException] = []
    elapsed = 0.0
    for run in (
        lambda: from_redis_stream(
            url, "s", group="g", consumer="c", connect_timeout=connect_timeout
        ).collect(),
        lambda: (a.just({"n": 1}) | to_redis_stream(url, "s", connect_timeout=connect_timeout))
        .collect(),
    ):  # fmt: skip
        started = time.monotonic()
        with pytest.raises(ConnectionError) as info:
            await run()
        elapsed = max(elapsed, time.monotonic() - started)
        errors.append(info.value)
    # The same single error from the source and from the sink, on either backend: not a
    # group, not coredis's own ConnectionError, the message one line.
    for error in errors:
        assert type(error) is ConnectionError
        assert "\n" not in str(error)
        _no_secret(error)
    source_text, sink_text = (str(e).partition(": ")[2] for e in errors)
    assert source_text == sink_text, errors
    return errors[0], elapsed


# -- a round trip over TLS -------------------------------------------------------------------


async def test_round_trip_over_tls_with_an_acl_user(tls_redis: Any, alice: str) -> None:
    url = tls_redis.url(alice)
    written = await (
        a.from_iterable([{"n": str(i)} for i in range(50)]) | to_redis_stream(url, "t")
    ).collect()
    assert [e.fields["n"] for e in written] == [str(i) for i in range(50)]
    got = await (
        from_redis_stream(url, "t", group="g", consumer="c", block=0.05, idle_stop=0.3)
        | a.map(lambda e: int(e.fields["n"]))
    ).collect()
    assert sorted(got) == list(range(50))
    assert _int(tls_redis, "XLEN", "t") == 50
    assert _pending(tls_redis, "t", "g") == 0


async def test_wrong_password_over_tls_is_refused_and_masked(tls_redis: Any, alice: str) -> None:
    url = tls_redis.url(f"alice:{quote('n0t ' + PASSWORD, safe='')}")
    with pytest.raises(PermissionError, match="refused the credentials") as info:
        await from_redis_stream(url, "t", group="g", consumer="c").collect()
    assert "alice:***@" in str(info.value)
    _no_secret(info.value)


async def test_hostname_check_can_be_turned_off(tls_redis: Any) -> None:
    url = tls_redis.url(host="localhost") + "&ssl_check_hostname=false"
    written = await (a.just({"n": "1"}) | to_redis_stream(url, "h")).collect()
    assert len(written) == 1
    assert _int(tls_redis, "XLEN", "h") == 1


async def test_verification_can_be_turned_off(tls_redis: Any) -> None:
    url = f"rediss://127.0.0.1:{tls_redis.port}?ssl_cert_reqs=none"  # no CA given
    written = await (a.just({"n": "1"}) | to_redis_stream(url, "v")).collect()
    assert len(written) == 1
    assert _int(tls_redis, "XLEN", "v") == 1


# -- certificate failures ----------------------------------------------------------------------


async def test_without_the_ca_the_first_line_names_the_tls_reason(tls_redis: Any) -> None:
    url = f"rediss://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{tls_redis.port}"
    error, _ = await _fails(url)
    assert str(error) == (
        f"from_redis_stream: cannot connect to Redis at "
        f"'rediss://alice:***@127.0.0.1:{tls_redis.port}': TLS failed: "
        f"CERTIFICATE_VERIFY_FAILED: self-signed certificate in certificate chain; give "
        f"the CA that signed the server's certificate with ?ssl_ca_certs=PATH"
    )
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_trusting_another_ca_fails_verification(tls_redis: Any) -> None:
    error, _ = await _fails(tls_redis.url("bob:hunter2", ca=tls_redis.other_ca))
    first = str(error).splitlines()[0]
    assert "TLS failed: CERTIFICATE_VERIFY_FAILED: " in first
    assert f"'rediss://bob:***@127.0.0.1:{tls_redis.port}?ssl_ca_certs=" in first
    assert "hunter2" not in repr(error)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_a_host_the_certificate_does_not_name_fails_the_hostname_check(
    tls_redis: Any,
) -> None:
    error, _ = await _fails(tls_redis.url(host="localhost"))
    assert str(error).endswith(
        "': TLS failed: CERTIFICATE_VERIFY_FAILED: Hostname mismatch, certificate is not "
        "valid for 'localhost'; connect by a name the certificate holds, or turn the check "
        "off with ?ssl_check_hostname=false"
    )


# -- the wrong protocol, a closed port, a port that never answers: within the timeout -------


async def test_rediss_against_a_plain_port_fails_within_the_timeout(redis_server: Any) -> None:
    url = f"rediss://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{redis_server.port}"
    error, elapsed = await _fails(url, connect_timeout=3.0)
    assert elapsed < 3.0 + 2.0
    assert str(error) == (
        f"from_redis_stream: cannot connect to Redis at "
        f"'rediss://alice:***@127.0.0.1:{redis_server.port}' within 3 s: the server "
        f"answers in plain text, not TLS (use redis://, or the port of the server's "
        f"--tls-port)"
    )


async def test_redis_against_a_tls_port_fails_within_the_timeout(tls_redis: Any) -> None:
    url = f"redis://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{tls_redis.port}"
    error, elapsed = await _fails(url, connect_timeout=3.0)
    assert elapsed < 3.0 + 2.0
    assert str(error) == (
        f"from_redis_stream: cannot connect to Redis at "
        f"'redis://alice:***@127.0.0.1:{tls_redis.port}' within 3 s: the server closed "
        f"the connection without answering PING (a TLS port? use rediss://, with "
        f"?ssl_ca_certs=PATH for a private CA)"
    )


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
async def test_a_closed_port_fails_at_once(scheme: str, tls_redis: Any) -> None:
    port = free_port()  # nothing listens there once closed
    url = f"{scheme}://alice:s3cret@127.0.0.1:{port}" + (
        f"?ssl_ca_certs={tls_redis.ca}" if scheme == "rediss" else ""
    )
    error, elapsed = await _fails(url, connect_timeout=3.0)
    assert elapsed < 3.0 + 2.0
    assert str(error).startswith(
        f"from_redis_stream: cannot connect to Redis at '{scheme}://alice:***@127.0.0.1:{port}"
    )
    assert str(error).endswith("within 3 s: Connection refused (errno 111)")
    assert "s3cret" not in repr(error)


@pytest.mark.parametrize("scheme", ["redis", "rediss"])
async def test_a_port_that_never_answers_fails_at_the_timeout(scheme: str, tls_redis: Any) -> None:
    # The kernel completes the TCP handshake for a listening socket nobody accepts on.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"{scheme}://127.0.0.1:{port}" + (
            f"?ssl_ca_certs={tls_redis.ca}" if scheme == "rediss" else ""
        )
        error, elapsed = await _fails(url, connect_timeout=1.0)
    assert 0.9 < elapsed < 1.0 + 2.0
    reason = str(error).partition("within 1 s: ")[2]
    if scheme == "redis":
        assert reason == "connected, but the server did not answer PING"
    else:
        assert reason.startswith("the TLS handshake got no answer")


# -- client certificates (mutual TLS) ------------------------------------------------------------


@pytest.fixture(scope="module")
def mutual_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from start_tls_server(tmp_path_factory.mktemp("redis-mtls"), auth_clients="yes")


async def test_a_client_certificate_for_a_server_that_asks_for_one(mutual_tls_server: Any) -> None:
    server = mutual_tls_server
    url = server.url() + (
        f"&ssl_certfile={quote(str(server.client_cert), safe='/')}"
        f"&ssl_keyfile={quote(str(server.client_key), safe='/')}"
    )
    written = await (a.just({"n": "1"}) | to_redis_stream(url, "m")).collect()
    assert len(written) == 1
    # Without one the server refuses (TLS 1.3: after the client's handshake is over).
    with pytest.raises(ConnectionError) as info:
        await (a.just({"n": "1"}) | to_redis_stream(server.url(), "m", connect_timeout=3)).collect()
    assert type(info.value) is ConnectionError
    assert str(info.value).startswith(
        f"to_redis_stream: cannot connect to Redis at 'rediss://127.0.0.1:{server.port}?"
    )
    # The server's alert (TLSV13_ALERT_CERTIFICATE_REQUIRED) may be lost to a reset when
    # the PING crosses it; either way the message says what to do.
    assert "give one with ?ssl_certfile=PATH&ssl_keyfile=PATH" in str(info.value)


# -- URL options are checked before anything connects (no server) -----------------------------


def test_tls_options_are_checked(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    cases = {
        "rediss://h?ssl_ca_cert=/x": (ValueError, "unknown TLS option 'ssl_ca_cert'"),
        "redis://u:pw@h?ssl_ca_certs=/x": (
            ValueError,
            "ssl_ca_certs in a redis:// URL would be ignored: TLS needs a rediss:// URL "
            "('redis://u:***@h?ssl_ca_certs=/x')",
        ),
        "rediss://h?ssl_ca_certs=/x&ssl_ca_certs=/y": (ValueError, "ssl_ca_certs given twice"),
        "rediss://h?ssl_ca_certs=": (ValueError, "ssl_ca_certs is empty"),
        "rediss://h?ssl_ca_certs=/does/not/exist": (
            FileNotFoundError,
            "ssl_ca_certs '/does/not/exist' of the Redis URL 'rediss://h?",
        ),
        f"rediss://h?ssl_ca_certs={ca}": (ValueError, "holds no usable CA certificate"),
        "rediss://h?ssl_cert_reqs=maybe": (ValueError, "ssl_cert_reqs must be required, opt"),
        "rediss://h?ssl_check_hostname=perhaps": (ValueError, "must be true or false"),
        "rediss://h?ssl_cert_reqs=none&ssl_check_hostname=true": (ValueError, "turns verif"),
        f"rediss://h?ssl_keyfile={ca}": (ValueError, "ssl_keyfile without ssl_certfile"),
        f"rediss://h?ssl_certfile={ca}": (ValueError, "cannot load the client certificate"),
    }
    for url, (kind, words) in cases.items():
        with pytest.raises(kind) as info:
            tls_context(url, "from_redis_stream")
        assert words in str(info.value), (url, str(info.value))
        assert "pw@" not in str(info.value)


def test_tls_defaults() -> None:
    assert tls_context("redis://h:1", "x") is None
    verified = tls_context("rediss://h:1", "x")
    assert verified is not None
    assert verified.verify_mode == ssl.CERT_REQUIRED
    assert verified.check_hostname is True
    unverified = tls_context("rediss://h:1?ssl_cert_reqs=none", "x")
    assert unverified is not None
    assert unverified.verify_mode == ssl.CERT_NONE
    assert unverified.check_hostname is False


async def test_a_bad_tls_option_fails_the_run_before_connecting() -> None:
    port = free_port()
    with anyio.fail_after(5), pytest.raises(ValueError, match="unknown TLS option") as info:
        await from_redis_stream(
            f"rediss://127.0.0.1:{port}?tls_ca=/x", "s", group="g", consumer="c"
        ).collect()
    assert type(info.value) is ValueError


def test_with_tls_ca_adds_the_option_to_a_rediss_url() -> None:
    from anystream.connectors._redis_client import with_tls_ca

    assert with_tls_ca("rediss://u:pw@h:1", None, "worker") == "rediss://u:pw@h:1"
    assert with_tls_ca("rediss://u:pw@h:1", "/etc/ca dir/ca.pem", "worker") == (
        "rediss://u:pw@h:1?ssl_ca_certs=/etc/ca%20dir/ca.pem"
    )
    assert with_tls_ca("rediss://h:1/2?ssl_check_hostname=false", "/ca.pem", "worker") == (
        "rediss://h:1/2?ssl_check_hostname=false&ssl_ca_certs=/ca.pem"
    )
    with pytest.raises(
        ValueError, match=r"worker: a TLS CA needs a rediss:// URL, got 'redis://u:\*\*\*@h:1'"
    ):
        with_tls_ca("redis://u:pw@h:1", "/ca.pem", "worker")


def test_a_lost_connection_that_fails_on_tls_names_the_tls_reason(tls_redis: Any) -> None:
    """What a reconnect reports as its last error when coredis could not do the handshake."""
    import coredis

    from anystream.connectors._redis_client import _reason

    context = ssl.create_default_context(cafile=str(tls_redis.other_ca))
    with socket.create_connection(("127.0.0.1", tls_redis.port), timeout=5) as raw:
        try:
            context.wrap_socket(raw, server_hostname="127.0.0.1")
        except ssl.SSLCertVerificationError as exc:
            verify_failure = exc
    # coredis raises its own ConnectionError from the ssl error, inside a task group
    try:
        try:
            raise verify_failure
        except ssl.SSLError as exc:
            raise coredis.exceptions.ConnectionError("Unable to establish a connection") from exc
    except coredis.exceptions.ConnectionError as exc:
        lost = ExceptionGroup("unhandled errors in a TaskGroup", [exc])
    assert _reason(lost).startswith("TLS failed: CERTIFICATE_VERIFY_FAILED: ")
