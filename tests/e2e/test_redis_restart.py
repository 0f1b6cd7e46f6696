"""The scale-out demo across a Redis restart, and against a server gone for good.

Two worker processes run while ``redis-server`` (``appendonly yes``, started by the test on
a port of its own) is stopped with SIGTERM and started again on the same port about 3 s
later: the workers reconnect and carry on, the sink holds exactly the N distinct events,
nothing stays pending, and each worker's summary counts its reconnects. A server that
does not come back ends a worker with ``--reconnect 1`` with one line on stderr that
names the server with its password masked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.test_redis_reconnect import Restartable

_spec = importlib.util.spec_from_file_location(
    "anystream_redis_fixture", Path(__file__).parents[1] / "connectors" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_fixture = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixture  # dataclasses look their module up there
_spec.loader.exec_module(_fixture)
redis_server = _fixture.redis_server  # only for its skip when redis-server is missing
command = _fixture.command

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.timeout(180),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

N = 600
PARTITIONS = 3


@pytest.fixture
def own_server(redis_server: Any, tmp_path: Path) -> Iterator[Restartable]:
    server = Restartable(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _int(port: int, *args: str) -> int:
    reply = command(port, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def _demo(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "anystream.demo.redis_demo", *args, "--url", url, "--json"]


def _authed_sink_len(server: Restartable) -> int:
    # redis-cli (installed with redis-server) sends AUTH first; command() does not.
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), "--no-auth-warning", "-a", server.password or "",
         "XLEN", "demo:sink"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    text = done.stdout.strip()
    return int(text) if text.isdigit() else -1


def _sink_len(port: int) -> int:
    try:
        return _int(port, "XLEN", "demo:sink")
    except (OSError, AssertionError):  # down, or still loading its data
        return -1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_workers_ride_out_a_redis_restart(own_server: Restartable, backend: str) -> None:
    url, port = own_server.url, own_server.port
    subprocess.run(
        _demo(url, "produce", "--events", str(N), "--partitions", str(PARTITIONS),
              "--backend", backend),
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    worker_args = ["--group", "g", "--partitions", str(PARTITIONS), "--latency", "0.01",
                   "--concurrency", "2", "--block", "0.2", "--claim-idle", "10",
                   "--reconnect", "30", "--backend", backend]  # fmt: skip
    workers = [
        subprocess.Popen(
            _demo(url, "worker", "--consumer", f"w{i}", *worker_args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while _sink_len(port) < N // 4:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.02)
        assert _sink_len(port) < N, "the run ended before the restart: nothing tested"
        own_server.stop()
        time.sleep(3.0)
        own_server.start()
        while _sink_len(port) < N:
            assert time.monotonic() < deadline, f"sink stuck at {_sink_len(port)} of {N}"
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.05)
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=30) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["event"] == "summary"
        assert summary["reconnects"] >= 1, summary
        assert "Traceback" not in err, err[-3000:]
    assert _int(port, "XLEN", "demo:sink") == N
    assert _int(port, "SCARD", "demo:seen") == N
    for p in range(PARTITIONS):
        reply = command(port, "XPENDING", f"demo:events:{p}", "g")
        assert int(reply.split(b"\r\n")[1][1:]) == 0


def test_a_server_gone_for_good_ends_the_worker_with_one_line(
    redis_server: Any, tmp_path: Path
) -> None:
    server = Restartable(tmp_path, password="hunter2-secret")
    server.start()
    try:
        subprocess.run(
            _demo(server.url, "produce", "--events", "50", "--partitions", "2"),
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        worker = subprocess.Popen(
            _demo(server.url, "worker", "--consumer", "w", "--group", "g", "--partitions", "2",
                  "--block", "0.2", "--reconnect", "1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while _authed_sink_len(server) < 50:  # started, and through the 50 events
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
    finally:
        server.stop()
    started = time.monotonic()
    out, err = worker.communicate(timeout=60)
    assert time.monotonic() - started < 20
    assert worker.returncode == 1
    lines = err.strip().splitlines()
    assert re.match(
        r"error: (from_redis_stream|to_redis_stream|worker): lost the connection to Redis at "
        r"'redis://:\*\*\*@127\.0\.0\.1:\d+' and could not reconnect: tried for [\d.]+ s "
        r"\(reconnect=1\)",
        lines[-1],
    ), err
    assert "Traceback" not in err
    assert "hunter2" not in out + err
