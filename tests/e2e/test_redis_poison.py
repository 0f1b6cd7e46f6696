"""The scale-out demo against poison entries: a worker process restarted until it gets by.

An entry that crashes its worker on every delivery (here a non-UTF-8 field: the source
cannot decode it and the demo passes no ``dead_letter=``) used to stop the group for good:
the restarted worker re-read it first and crashed again. With ``--max-deliveries 2`` the
third delivery sets it aside in the dead-letter stream and every good event reaches the
sink. A non-finite timestamp (``inf,order,info,1``) is malformed: counted, not a crash.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "anystream_redis_fixture", Path(__file__).parents[1] / "connectors" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_fixture = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixture  # dataclasses look their module up there
_spec.loader.exec_module(_fixture)
redis_server = _fixture.redis_server
redis_url = _fixture.redis_url
command = _fixture.command

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.timeout(180),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

N = 200
PARTITIONS = 2


def _int(port: int, *args: str) -> int:
    reply = command(port, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def _raw(port: int, *args: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(65536)


def _demo(url: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-W",
        "always",
        "-m",
        "anystream.demo.redis_demo",
        *args,
        "--url",
        url,
        "--json",
    ]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_poison_entry_goes_to_the_dead_letter_stream_after_restarts(
    redis_url: str, backend: str
) -> None:
    port = int(redis_url.rsplit(":", 1)[1])
    subprocess.run(
        _demo(redis_url, "produce", "--events", str(N), "--partitions", str(PARTITIONS),
              "--backend", backend),
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    # A poison entry in partition 0 and a non-finite timestamp in partition 1.
    assert _raw(port, b"XADD", b"demo:events:0", b"*", b"id", b"poison", b"line", b"\xff\xfe")
    command(port, "XADD", "demo:events:1", "*", "id", "inf", "line", "inf,order,info,1")
    worker = _demo(
        redis_url, "worker", "--consumer", "w", "--group", "g", "--partitions",
        str(PARTITIONS), "--latency", "0", "--block", "0.1", "--idle-stop", "1.0",
        "--max-deliveries", "2", "--backend", backend,
    )  # fmt: skip
    crashes = 0
    summary = None
    for _restart in range(6):  # a supervisor restarting the same worker
        done = subprocess.run(worker, capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            break
        assert "malformed" in done.stderr, done.stderr[-2000:]
        assert len(done.stderr.splitlines()) < 200, "the crash is not a huge traceback"
        crashes += 1
    assert summary is not None, "the worker never got past the poison entry"
    assert crashes == 2  # delivered twice, each time a crash; set aside on the third
    assert summary["dead_lettered"] == 1
    assert summary["malformed"] >= 1  # the "inf" line
    assert _int(port, "XLEN", "demo:sink") == N
    assert _int(port, "SCARD", "demo:seen") == N
    assert _int(port, "XLEN", "demo:events:0:dead") == 1
    letter = command(port, "XRANGE", "demo:events:0:dead", "-", "+")
    assert b"max_deliveries" in letter
    assert b"\xff\xfe" in letter
    for p in range(PARTITIONS):
        reply = command(port, "XPENDING", f"demo:events:{p}", "g")
        assert int(reply.split(b"\r\n")[1][1:]) == 0


def test_worker_rejects_a_bad_max_deliveries() -> None:
    done = subprocess.run(
        _demo("redis://127.0.0.1:1", "worker", "--consumer", "w", "--max-deliveries", "x"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--max-deliveries must be a whole number" in done.stderr
