"""A real ``redis-server`` for the Redis connector tests.

The server is started once per session on a free port with persistence off
(``--save '' --appendonly no``) and stopped at the end; every test gets it empty
(``redis_url`` flushes it). When the binary or coredis is missing the Redis tests are
skipped with the reason, unless ``ANYSTREAM_REQUIRE_REDIS=1`` is set (CI sets it after
installing the server), in which case they fail.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_VARIABLE = "ANYSTREAM_REQUIRE_REDIS"


@dataclass(frozen=True)
class RedisServer:
    url: str
    port: int
    log: Path


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1 says Redis is required", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_VARIABLE}=1 to make this a failure)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def command(port: int, *args: str) -> bytes:
    """Send one command in RESP and return the raw first reply (for set-up only)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(65536)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed (apt-get install redis-server)")
    if importlib.util.find_spec("coredis") is None:
        _unavailable("coredis is not installed (pip install 'anystream[redis]')")
    assert binary is not None
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(log.parent)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if command(port, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.02)
        yield RedisServer(f"redis://127.0.0.1:{port}", port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server's URL, emptied for this test."""
    command(redis_server.port, "FLUSHALL")
    return redis_server.url
