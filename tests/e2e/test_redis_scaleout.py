"""Scale-out over Redis Streams: three worker processes, one SIGKILLed mid-run.

``python -m anystream.demo.redis_demo produce`` writes N events to 3 partitions; three
``worker`` processes of one consumer group run the reference pipeline into the
deduplicating sink. When about a quarter of the events are in the sink, one worker is
killed with SIGKILL while it holds entries it read but did not acknowledge. The two
survivors claim them after ``--claim-idle``; in the end the sink holds exactly N distinct
events, the window counts sum to N, nothing is left pending, and the survivors exit with
0 on SIGTERM (graceful stop) without a word on stderr.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The redis-server fixture lives with the connector tests; load it from there.
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
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

N = 900
PARTITIONS = 3


def _int(port: int, *args: str) -> int:
    reply = command(port, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def _bulk_ints(port: int, *args: str) -> list[int]:
    """Integers out of a RESP array of bulk strings (HVALS)."""
    reply = command(port, *args)
    lines = reply.split(b"\r\n")
    return [int(line) for line in lines[1:] if line and not line.startswith((b"$", b"*"))]


def _demo(url: str, *args: str) -> list[str]:
    cmd = [sys.executable, "-W", "always", "-m", "anystream.demo.redis_demo", *args]
    return [*cmd, "--url", url, "--json"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_three_workers_one_killed_sink_is_exact(
    redis_url: str, redis_server: object, backend: str
) -> None:
    port = int(redis_url.rsplit(":", 1)[1])
    subprocess.run(
        _demo(redis_url, "produce", "--events", str(N), "--partitions", str(PARTITIONS),
              "--malformed", "7", "--backend", backend),
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    worker_args = ["--group", "g", "--partitions", str(PARTITIONS), "--latency", "0.02",
                   "--concurrency", "2", "--block", "0.2", "--claim-idle", "1.0",
                   "--claim-interval", "0.25", "--backend", backend]  # fmt: skip
    workers = [
        subprocess.Popen(
            _demo(redis_url, "worker", "--consumer", f"w{i}", *worker_args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        deadline = time.monotonic() + 20
        while _int(port, "XLEN", "demo:sink") < N // 4:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.02)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        held = [_holds_any(port, f"demo:events:{p}", "g", "w0") for p in range(PARTITIONS)]
        assert any(held), "the killed worker held nothing: the test did not test claiming"
        while _int(port, "XLEN", "demo:sink") < N:
            assert time.monotonic() < deadline, (
                f"sink stuck at {_int(port, 'XLEN', 'demo:sink')} of {N}"
            )
            time.sleep(0.05)
        # A graceful stop drains and acknowledges everything (checked below).
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=15) for w in workers[1:]]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
        if workers[0].stdout is not None and not workers[0].stdout.closed:
            workers[0].communicate()
    for w, (out, err) in zip(workers[1:], outputs, strict=True):
        assert w.returncode == 0, err
        assert err == ""
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["event"] == "summary"
    assert _int(port, "XLEN", "demo:sink") == N
    assert _int(port, "SCARD", "demo:seen") == N
    assert sum(_bulk_ints(port, "HVALS", "demo:windows")) == N
    for p in range(PARTITIONS):
        assert _pending_total(port, p) == 0


def _pending_total(port: int, partition: int) -> int:
    reply = command(port, "XPENDING", f"demo:events:{partition}", "g")
    return int(reply.split(b"\r\n")[1][1:])


def _holds_any(port: int, stream: str, group: str, consumer: str) -> bool:
    # Extended XPENDING with COUNT 1: an empty array ("*0") when the consumer holds none.
    return not command(port, "XPENDING", stream, group, "-", "+", "1", consumer).startswith(b"*0")
