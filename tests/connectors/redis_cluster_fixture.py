"""A real 3-primary Redis Cluster for the cluster tests (connector and e2e).

Three ``redis-server --cluster-enabled yes`` processes on free ports, each in a temporary
directory of its own (the cluster config file ``nodes-<port>.conf`` lives there), joined
with ``redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`` and polled
until every node says ``cluster_state:ok``. Started once per session and stopped at the
end; ``redis_cluster_url`` empties every node for each test. Skipped (or failed with
``ANYSTREAM_REQUIRE_REDIS=1``) like the single-server fixture when the binaries or
coredis are missing.

Not a test module: the test files load it by path (``tests`` is not a package).
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The single-server helpers (free ports, raw RESP commands, skipping) live in conftest.py.
_name = "anystream_redis_fixture"
if _name in sys.modules:
    _base = sys.modules[_name]
else:
    _spec = importlib.util.spec_from_file_location(_name, Path(__file__).parent / "conftest.py")
    assert _spec is not None
    assert _spec.loader is not None
    _base = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _base  # dataclasses look their module up there
    _spec.loader.exec_module(_base)
command = _base.command

PRIMARIES = 3


@dataclass(frozen=True)
class RedisCluster:
    url: str
    ports: tuple[int, ...]
    logs: tuple[Path, ...]


def _free_cluster_port(taken: set[int]) -> int:
    """A free port P with P + 10000 free too (a node's cluster bus), P <= 55535."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 55535)
        if port in taken or port + 10000 in taken:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        taken.update((port, port + 10000))
        return port
    raise AssertionError("no free port pair for a cluster node")  # pragma: no cover


def cluster_command(ports: tuple[int, ...], *args: str) -> bytes:
    """Send one keyed command to the node serving its key (following ``-MOVED``)."""
    port = ports[0]
    for _ in range(4):
        reply: bytes = command(port, *args)
        if not reply.startswith(b"-MOVED"):
            return reply
        # -MOVED <slot> <host>:<port>
        port = int(reply.split()[2].rsplit(b":", 1)[1])
    raise AssertionError(f"{args}: redirected too often, last reply {reply!r}")


def cluster_int(ports: tuple[int, ...], *args: str) -> int:
    reply = cluster_command(ports, *args)
    assert reply.startswith(b":"), reply
    return int(reply[1:].split(b"\r\n")[0])


def cluster_pending(ports: tuple[int, ...], stream: str, group: str) -> int:
    """XPENDING's total for ``group`` on ``stream``."""
    reply = cluster_command(ports, "XPENDING", stream, group)
    return int(reply.split(b"\r\n")[1][1:])


def node_of(ports: tuple[int, ...], key: str) -> int:
    """The port of the primary that serves ``key`` (asked with a command it would MOVE)."""
    for port in ports:
        if not command(port, "TYPE", key).startswith(b"-MOVED"):
            return port
    raise AssertionError(f"no node serves {key!r}")


class Cluster:
    """Three cluster nodes on free ports, each in a folder of its own; restartable."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            _base._unavailable(
                "redis-server or redis-cli is not installed (apt-get install redis-server)"
            )
        if importlib.util.find_spec("coredis") is None:
            _base._unavailable("coredis is not installed (pip install 'anystream[redis]')")
        assert binary is not None
        assert cli is not None
        self.binary, self.cli = binary, cli
        self.appendonly = appendonly
        taken: set[int] = set()
        self.ports = tuple(_free_cluster_port(taken) for _ in range(PRIMARIES))
        self.folders = [folder / f"node-{port}" for port in self.ports]
        for node in self.folders:
            node.mkdir(parents=True)
        self.logs = tuple(node / "redis.log" for node in self.folders)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def tail(self) -> str:
        return "\n".join(f"{log}:\n{log.read_text()[-1500:]}" for log in self.logs)

    def start_node(self, port: int) -> None:
        folder = self.folders[self.ports.index(port)]
        with (folder / "redis.log").open("ab") as out:
            self.procs[port] = subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes" if self.appendonly else "no", "--dir", str(folder),
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", "5000"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                if command(port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if self.procs[port].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"a cluster node did not start:\n{self.tail()}")
            time.sleep(0.02)

    def stop_node(self, port: int) -> None:
        """SIGTERM (with appendonly on, the node keeps its data and its slots)."""
        proc = self.procs.pop(port)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node says ``cluster_state:ok`` (it knows the whole layout)."""
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while b"cluster_state:ok" not in command(port, "CLUSTER", "INFO"):
                if time.monotonic() > deadline:
                    pytest.fail(f"the cluster did not reach cluster_state:ok:\n{self.tail()}")
                time.sleep(0.05)

    def create(self) -> None:
        for port in self.ports:
            self.start_node(port)
        created = subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if created.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        self.wait_ok()

    def close(self) -> None:
        for port in list(self.procs):
            self.stop_node(port)


@contextmanager
def running_cluster(folder: Path, *, appendonly: bool = False) -> Iterator[Cluster]:
    cluster = Cluster(folder, appendonly=appendonly)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield RedisCluster(cluster.url, cluster.ports, cluster.logs)


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """The cluster's URL, every node emptied for this test."""
    for port in redis_cluster.ports:
        command(port, "FLUSHALL")
    return redis_cluster.url
