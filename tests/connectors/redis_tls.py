"""A real ``redis-server`` that speaks only TLS, with a self-signed CA made by ``openssl``.

Imported by the TLS tests (tests/connectors/test_redis_tls.py and the multi-process one in
tests/e2e), not collected itself. Once per session ``openssl`` makes, in a temporary
directory:

- ``ca.pem``: a self-signed CA, which signs ``server.pem`` (subjectAltName
  ``IP:127.0.0.1`` only, so that connecting by ``localhost`` fails the hostname check)
  and ``client.pem``;
- ``other-ca.pem``: a second CA that signed nothing (a client trusting only it rejects
  the server).

The server listens on a free TLS port with the plain port off (``--port 0``) and does not
ask clients for certificates (``--tls-auth-clients no``). When ``redis-server``, a TLS
build of it, coredis or ``openssl`` is missing the tests are skipped with the reason,
unless ``ANYSTREAM_REQUIRE_REDIS=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

REQUIRE_VARIABLE = "ANYSTREAM_REQUIRE_REDIS"


@dataclass(frozen=True)
class TLSRedisServer:
    port: int
    ca: Path
    other_ca: Path
    client_cert: Path
    client_key: Path
    log: Path

    def url(self, userinfo: str = "", *, host: str = "127.0.0.1", ca: Path | None = None) -> str:
        """A ``rediss://`` URL of the server trusting ``ca`` (default: the server's CA)."""
        at = f"{userinfo}@" if userinfo else ""
        cafile = quote(str(self.ca if ca is None else ca), safe="/")
        return f"rediss://{at}{host}:{self.port}?ssl_ca_certs={cafile}"


def unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1 says Redis is required", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_VARIABLE}=1 to make this a failure)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _openssl(openssl: str, *args: str) -> None:
    done = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args[:2])} failed: {done.stderr[-2000:]}")


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server and a client certificate signed by it, and an unrelated CA (EC keys)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed (it makes the test certificates)")
    assert openssl is not None
    files = {name: directory / f"{name}.pem" for name in (
        "ca", "ca-key", "other-ca", "other-ca-key", "server", "server-key", "client",
        "client-key")}  # fmt: skip
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl(openssl, "req", "-x509", *ec, "-keyout", str(files[f"{ca}-key"]),
                 "-out", str(files[ca]), "-days", "2", "-subj", f"/CN=anystream test {ca}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    for leaf, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        request = directory / f"{leaf}.csr"
        extensions = directory / f"{leaf}.ext"
        san = "subjectAltName=IP:127.0.0.1\n" if leaf == "server" else ""
        extensions.write_text(f"{san}basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")
        _openssl(openssl, "req", *ec, "-keyout", str(files[f"{leaf}-key"]),
                 "-out", str(request), "-subj", f"/CN=anystream test {leaf}")  # fmt: skip
        _openssl(openssl, "x509", "-req", "-in", str(request), "-CA", str(files["ca"]),
                 "-CAkey", str(files["ca-key"]), "-CAcreateserial", "-days", "2",
                 "-out", str(files[leaf]), "-extfile", str(extensions))  # fmt: skip
    return files


def tls_command(server: TLSRedisServer, *args: str) -> bytes:
    """Send one command over TLS in RESP and return the raw first reply (set-up, checks).

    Done with the standard library's ``ssl``, not with the code under test, and with the
    client certificate.
    """
    context = ssl.create_default_context(cafile=str(server.ca))
    # offered only to a server that asks for one (--tls-auth-clients yes)
    context.load_cert_chain(server.client_cert, server.client_key)
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(b"".join(parts))
        return s.recv(65536)


def start_tls_server(directory: Path, *, auth_clients: str = "no") -> Iterator[TLSRedisServer]:
    """Start the server (a generator: stops it when closed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    if importlib.util.find_spec("coredis") is None:
        unavailable("coredis is not installed (pip install 'anystream[redis]')")
    assert binary is not None
    files = make_certificates(directory)
    log = directory / "redis-tls.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(files["server"]), "--tls-key-file", str(files["server-key"]),
             "--tls-ca-cert-file", str(files["ca"]), "--tls-auth-clients", auth_clients,
             "--save", "", "--appendonly", "no", "--dir", str(directory)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = TLSRedisServer(
        port, files["ca"], files["other-ca"], files["client"], files["client-key"], log
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                text = log.read_text(errors="replace")
                if "tls" in text.lower():
                    unavailable(f"redis-server cannot serve TLS: {text.strip()[-300:]}")
                pytest.fail(f"redis-server (TLS) exited: {text[-2000:]}")
            try:
                pong = tls_command(server, "PING")
                if pong.startswith((b"+PONG", b"-NOAUTH")):
                    break
            except (OSError, ssl.SSLError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server (TLS) did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def tls_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedisServer]:
    yield from start_tls_server(tmp_path_factory.mktemp("redis-tls"))


@pytest.fixture
def tls_redis(tls_redis_server: TLSRedisServer) -> TLSRedisServer:
    """The TLS server, emptied for this test."""
    tls_command(tls_redis_server, "FLUSHALL")
    return tls_redis_server
