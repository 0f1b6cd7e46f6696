"""The scale-out demo when a worker or the server stalls, and when no one fails at all.

Three worker processes of one consumer group run the reference pipeline into the
deduplicating sink (see ``anystream.demo.redis_demo``), logged in as an ACL user whose
password holds ``@ : / # %`` (given percent-encoded in the URL). Each scenario asserts that
the sink holds exactly the N distinct events, the window counts sum to N, nothing stays
pending, the workers' ``written`` counts sum to N, and no output (stdout or stderr of the
producer and of every worker) holds the password, raw or encoded.

- SIGSTOP: one worker is stopped mid-run for longer than ``--claim-idle`` while it holds
  entries; the other two claim them (its heartbeat is frozen with it). Then SIGCONT: it
  finishes what it had in memory, which the sink's atomic dedup reports as duplicates; it
  does not take its old entries back (the heartbeat resets only entries still its own) and
  corrupts nothing. The duplicates are bounded by what it held when stopped: more would
  mean live workers claimed from each other (which this scenario caught once: the entries
  of a read's later streams, not yet handed to the pipeline, missed the heartbeat).
- ``CLIENT PAUSE <ms> ALL`` and ``CLIENT PAUSE <ms> WRITE`` for 2.5 s mid-run: the
  connection stays up and the server merely holds every (every writing) command, so the
  workers' commands wait and then carry on. They *survive* without a reconnect (the test
  asserts none died and each exits 0 on SIGTERM; no supervisor restart is needed).
- No failure, a 50 ms lookup stage and ``--claim-idle 2``: the read-ahead (150 entries per
  worker plus buffers) takes several seconds to get through, far longer than
  ``claim_idle``, yet no entry is processed twice (the sink's dedup reports no duplicate,
  and no pending entry, sampled every 0.1 s, ever shows a second delivery), because each
  worker's heartbeat keeps the idle time of the entries it holds fresh.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

PARTITIONS = 3
USER = "stall"
PASSWORD = "s3cr@t:/pw#42%x"


@dataclass(frozen=True)
class Login:
    url: str
    port: int
    secrets: tuple[str, ...]  # what must appear in no output


@pytest.fixture
def login(redis_url: str, redis_server: Any) -> Iterator[Login]:
    """An ACL user with a password that needs percent-encoding, on the emptied server."""
    port = redis_server.port
    assert command(port, "ACL", "SETUSER", USER, "reset", "on", f">{PASSWORD}").startswith(b"+OK")
    assert command(port, "ACL", "SETUSER", USER, "~*", "&*", "+@all").startswith(b"+OK")
    encoded = quote(PASSWORD, safe="")
    try:
        yield Login(f"redis://{USER}:{encoded}@127.0.0.1:{port}", port, (PASSWORD, encoded))
    finally:
        command(port, "ACL", "DELUSER", USER)


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


def _pending_total(port: int, partition: int) -> int:
    reply = command(port, "XPENDING", f"demo:events:{partition}", "g")
    return int(reply.split(b"\r\n")[1][1:])


def _call(port: int, *args: str) -> Any:
    """One command, its whole reply parsed (RESP2: the replies here can exceed one recv)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, s.makefile("rb") as f:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args
        ))  # fmt: skip
        return _reply(f)


def _reply(f: Any) -> Any:
    line = f.readline()[:-2]
    kind, rest = line[:1], line[1:]
    if kind == b"*":
        return None if int(rest) < 0 else [_reply(f) for _ in range(int(rest))]
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else f.read(size + 2)[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"-":
        raise AssertionError(rest.decode())
    return rest


def _held_ids(port: int, consumer: str) -> set[tuple[int, bytes]]:
    """The entries ``consumer`` holds (read, not acknowledged): (partition, id) pairs."""
    return {
        (p, row[0])
        for p in range(PARTITIONS)
        for row in _call(port, "XPENDING", f"demo:events:{p}", "g", "-", "+", "100000", consumer)
    }


def _held(port: int, consumer: str) -> int:
    return len(_held_ids(port, consumer))


def _max_delivered(port: int) -> int:
    """The highest delivery count among the entries still pending (0 when none is)."""
    rows = [
        row
        for p in range(PARTITIONS)
        for row in _call(port, "XPENDING", f"demo:events:{p}", "g", "-", "+", "100000")
    ]
    # Each row: id, consumer, idle ms, deliveries.
    return max((row[3] for row in rows), default=0)


class Workers:
    """Worker processes of group ``g``; collects everything they print."""

    def __init__(self, url: str, backend: str, args: list[str]) -> None:
        self.url = url
        self.args = ["--group", "g", "--partitions", str(PARTITIONS), "--backend", backend, *args]
        self.procs: list[subprocess.Popen[str]] = []
        self.outputs: list[tuple[str, str]] = []

    def start(self, n: int) -> None:
        for i in range(n):
            self.procs.append(
                subprocess.Popen(
                    _demo(self.url, "worker", "--consumer", f"w{i}", *self.args),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def assert_alive(self) -> None:
        for i, w in enumerate(self.procs):
            if w.poll() is not None:
                _, err = w.communicate()
                pytest.fail(f"worker w{i} died with {w.returncode}: {err[-3000:]}")

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM (graceful: drain and acknowledge), then each worker's summary."""
        for w in self.procs:
            w.send_signal(signal.SIGCONT)  # harmless unless it is stopped
            w.send_signal(signal.SIGTERM)
        self.outputs = [w.communicate(timeout=30) for w in self.procs]
        summaries: list[dict[str, Any]] = []
        for w, (out, err) in zip(self.procs, self.outputs, strict=True):
            assert w.returncode == 0, err[-3000:]
            assert err == "", err[-3000:]
            summary = json.loads(out.strip().splitlines()[-1])
            assert summary["event"] == "summary", out[-3000:]
            summaries.append(summary)
        return summaries

    def kill_all(self) -> None:
        for w in self.procs:
            if w.poll() is None:
                w.send_signal(signal.SIGCONT)
                w.kill()
                w.communicate()


@pytest.fixture
def workers_factory() -> Iterator[list[Workers]]:
    made: list[Workers] = []
    yield made
    for workers in made:
        workers.kill_all()


def _produce(login: Login, n: int, backend: str) -> str:
    done = subprocess.run(
        _demo(login.url, "produce", "--events", str(n), "--partitions", str(PARTITIONS),
              "--malformed", "5", "--backend", backend),
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


def _wait_for_sink(port: int, at_least: int, deadline: float, workers: Workers) -> None:
    while (got := _int(port, "XLEN", "demo:sink")) < at_least:
        assert time.monotonic() < deadline, f"sink stuck at {got} (waiting for {at_least})"
        workers.assert_alive()
        time.sleep(0.02)


def _assert_exact(login: Login, n: int, summaries: list[dict[str, Any]], output: str) -> None:
    port = login.port
    assert _int(port, "XLEN", "demo:sink") == n
    assert _int(port, "SCARD", "demo:seen") == n
    assert sum(_bulk_ints(port, "HVALS", "demo:windows")) == n
    for p in range(PARTITIONS):
        assert _pending_total(port, p) == 0, f"entries left pending on partition {p}"
    assert sum(s["written"] for s in summaries) == n, summaries
    assert sum(s["malformed"] for s in summaries) == 5, summaries
    for secret in login.secrets:
        assert secret not in output


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_stopped_worker_is_claimed_from_and_resumes_harmlessly(
    login: Login, workers_factory: list[Workers], backend: str
) -> None:
    n, port = 900, login.port
    output = _produce(login, n, backend)
    workers = Workers(
        login.url, backend,
        ["--latency", "0.03", "--concurrency", "2", "--block", "0.2", "--claim-idle", "1.0",
         "--claim-interval", "0.25"],
    )  # fmt: skip
    workers_factory.append(workers)
    workers.start(3)
    victim = workers.procs[0]
    deadline = time.monotonic() + 60
    _wait_for_sink(port, n // 6, deadline, workers)
    victim.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    time.sleep(0.1)  # a read it sent just before the stop is answered (and held) by now
    taken = _held_ids(port, "w0")
    held = len(taken)
    assert held > 0, "the stopped worker held nothing: the test did not test claiming"
    assert _int(port, "XLEN", "demo:sink") < n, "the run ended before the stop"
    # Its heartbeat is stopped with it: after claim_idle the others take everything.
    while _held(port, "w0") > 0:
        assert time.monotonic() < deadline, f"w0 still holds {_held(port, 'w0')} entries"
        time.sleep(0.05)
    # Not before claim_idle (1 s) less a heartbeat interval (0.25 s): its entries' idle
    # time was last reset up to one heartbeat before the stop.
    assert time.monotonic() - stopped_at >= 0.7, "claimed from a worker stopped too briefly"
    time.sleep(0.3)  # stopped for a while longer than claim_idle
    victim.send_signal(signal.SIGCONT)
    # Resumed, its heartbeat fires at once (0.25 s overdue): it must not take its old
    # entries back from whoever claimed them (it may read new ones, so look only at those).
    time.sleep(0.6)
    assert not taken & _held_ids(port, "w0"), "the resumed worker took claimed entries back"
    _wait_for_sink(port, n, deadline, workers)
    summaries = workers.stop()
    output += "".join(out + err for out, err in workers.outputs)
    _assert_exact(login, n, summaries, output)
    # What w0 had in memory when it stopped was finished twice: once by the claimant, once
    # by w0 after SIGCONT (or the other way round). The dedup caught every such repeat.
    assert sum(s["duplicates"] for s in summaries) >= 1, summaries
    assert sum(s["duplicates"] for s in summaries) <= held, (held, summaries)


@pytest.mark.parametrize("mode", ["ALL", "WRITE"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_workers_survive_a_client_pause(
    login: Login, workers_factory: list[Workers], backend: str, mode: str
) -> None:
    n, port = 600, login.port
    output = _produce(login, n, backend)
    workers = Workers(
        login.url, backend,
        ["--latency", "0.01", "--concurrency", "2", "--block", "0.2", "--claim-idle", "10",
         "--reconnect", "30"],
    )  # fmt: skip
    workers_factory.append(workers)
    workers.start(3)
    deadline = time.monotonic() + 60
    _wait_for_sink(port, n // 4, deadline, workers)
    before = _int(port, "XLEN", "demo:sink")
    assert before < n, "the run ended before the pause: nothing tested"
    assert command(port, "CLIENT", "PAUSE", "2500", mode).startswith(b"+OK")
    paused_at = time.monotonic()
    if mode == "WRITE":
        # Commits that reached the server between the XLEN above and the pause have
        # landed: count from the pause itself (reads still answer during a WRITE pause).
        before = _int(port, "XLEN", "demo:sink")
    time.sleep(1.5)
    workers.assert_alive()
    if mode == "WRITE":
        # Writes (the commits) wait for the pause to end.
        assert _int(port, "XLEN", "demo:sink") == before
    else:
        # This XLEN itself waits for the pause to end.
        assert _int(port, "XLEN", "demo:sink") >= before
        assert time.monotonic() - paused_at >= 2.4
    _wait_for_sink(port, n, deadline, workers)
    summaries = workers.stop()
    output += "".join(out + err for out, err in workers.outputs)
    _assert_exact(login, n, summaries, output)
    # Paused, not disconnected: nobody had to reconnect, nothing was claimed twice.
    assert all(s["reconnects"] == 0 for s in summaries), summaries
    assert sum(s["duplicates"] for s in summaries) == 0, summaries


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_slow_stage_with_no_failure_processes_nothing_twice(
    login: Login, workers_factory: list[Workers], backend: str
) -> None:
    n, port = 900, login.port
    output = _produce(login, n, backend)
    workers = Workers(
        login.url, backend,
        ["--latency", "0.05", "--concurrency", "2", "--block", "0.2", "--claim-idle", "2",
         "--claim-interval", "0.5"],
    )  # fmt: skip
    workers_factory.append(workers)
    started = time.monotonic()
    workers.start(3)
    deadline = started + 90
    most = 0
    while (written := _int(port, "XLEN", "demo:sink")) < n:
        assert time.monotonic() < deadline, "the workers made no progress"
        workers.assert_alive()
        if written:  # the group exists on every partition once one event is through
            most = max(most, _max_delivered(port))
        time.sleep(0.1)
    took = time.monotonic() - started
    summaries = workers.stop()
    output += "".join(out + err for out, err in workers.outputs)
    _assert_exact(login, n, summaries, output)
    # The run lasted several claim_idle periods, so claims had every chance to steal.
    assert took > 4, f"the run took {took:.1f} s: too short to test claim_idle=2"
    assert sum(s["duplicates"] for s in summaries) == 0, summaries
    assert most == 1, f"an entry was delivered {most} times with no worker failing"
