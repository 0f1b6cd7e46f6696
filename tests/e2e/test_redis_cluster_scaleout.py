"""Scale-out over a 3-primary Redis Cluster: three worker processes, one SIGKILLed mid-run.

The same scenario as test_redis_scaleout.py, against a cluster the test starts itself
(tests/connectors/redis_cluster_fixture.py): ``produce`` writes N events to 3 partitions
spread over the three primaries (``--url redis+cluster://...``); three ``worker``
processes of one consumer group run the reference pipeline, each reading every
partition from the node that serves it. One worker is killed with SIGKILL while it holds
entries; the survivors claim them. In the end the sink holds exactly N distinct events,
the window counts sum to N, nothing is left pending on any node, and the survivors exit
with 0 on SIGTERM without a word on stderr. Both backends.

(Not named test_redis_cluster.py: tests/connectors has one, and the test folders are not
packages, so two test files may not share a name.)
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from anystream.connectors.redis import partition_streams

_spec = importlib.util.spec_from_file_location(
    "anystream_redis_cluster_fixture",
    Path(__file__).parents[1] / "connectors" / "redis_cluster_fixture.py",
)
assert _spec is not None
assert _spec.loader is not None
_fixture = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixture  # dataclasses look their module up there
_spec.loader.exec_module(_fixture)
redis_cluster = _fixture.redis_cluster
redis_cluster_url = _fixture.redis_cluster_url
cluster_command = _fixture.cluster_command
cluster_int = _fixture.cluster_int
cluster_pending = _fixture.cluster_pending
node_of = _fixture.node_of

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.timeout(120),
]

N = 900
PARTITIONS = 3


def _demo(url: str, *args: str) -> list[str]:
    cmd = [sys.executable, "-W", "always", "-m", "anystream.demo.redis_demo", *args]
    return [*cmd, "--url", url, "--json"]


def _bulk_ints(reply: bytes) -> list[int]:
    """Integers out of a RESP array of bulk strings (HVALS)."""
    lines = reply.split(b"\r\n")
    return [int(line) for line in lines[1:] if line and not line.startswith((b"$", b"*"))]


def _holds_any(ports: tuple[int, ...], stream: str, group: str, consumer: str) -> bool:
    # Extended XPENDING with COUNT 1: an empty array ("*0") when the consumer holds none.
    reply = cluster_command(ports, "XPENDING", stream, group, "-", "+", "1", consumer)
    return not reply.startswith(b"*0")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_three_workers_over_a_cluster_one_killed_sink_is_exact(
    redis_cluster_url: str, redis_cluster: Any, backend: str
) -> None:
    ports = redis_cluster.ports
    streams = partition_streams("demo:events", PARTITIONS, cluster=True)
    # The partitions are on the three primaries; the commit's keys share one slot.
    assert sorted(node_of(ports, s) for s in streams) == sorted(ports)
    subprocess.run(
        _demo(redis_cluster_url, "produce", "--events", str(N), "--partitions",
              str(PARTITIONS), "--malformed", "7", "--backend", backend),
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    assert sum(cluster_int(ports, "XLEN", s) for s in streams) == N + 7
    assert all(cluster_int(ports, "XLEN", s) > 0 for s in streams)
    worker_args = ["--group", "g", "--partitions", str(PARTITIONS), "--latency", "0.02",
                   "--concurrency", "2", "--block", "0.2", "--claim-idle", "1.0",
                   "--claim-interval", "0.25", "--backend", backend]  # fmt: skip
    workers = [
        subprocess.Popen(
            _demo(redis_cluster_url, "worker", "--consumer", f"w{i}", *worker_args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        deadline = time.monotonic() + 30
        while cluster_int(ports, "XLEN", "{demo}:sink") < N // 4:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.02)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        held = [_holds_any(ports, s, "g", "w0") for s in streams]
        assert any(held), "the killed worker held nothing: the test did not test claiming"
        while cluster_int(ports, "XLEN", "{demo}:sink") < N:
            assert time.monotonic() < deadline, (
                f"sink stuck at {cluster_int(ports, 'XLEN', '{demo}:sink')} of {N}"
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
    assert cluster_int(ports, "XLEN", "{demo}:sink") == N
    assert cluster_int(ports, "SCARD", "{demo}:seen") == N
    assert sum(_bulk_ints(cluster_command(ports, "HVALS", "{demo}:windows"))) == N
    for stream in streams:
        assert cluster_pending(ports, stream, "g") == 0
