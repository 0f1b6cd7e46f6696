"""``anystream demo`` in a subprocess, stopped by real signals, on asyncio and trio.

Each test starts ``python -m anystream demo`` with small windows and a fast feed, waits
for a few window lines, sends a real SIGINT or SIGTERM, and checks what a user would see:
the source-stopped line, the final partial window, a balanced summary, exit code 0 and
nothing at all on stderr (no traceback, no ResourceWarning: warnings are switched on
with ``-W always``). A second signal during the drain must end the run promptly with
130 (SIGINT) or 1 (SIGTERM).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

BACKENDS = ["asyncio", "trio"]
# Generous deadlines: the machine is shared, and a stalled demo fails the test anyway.
STARTUP = 15.0
EXIT = 10.0

WINDOW = re.compile(r"^window #(\d+) .*count=(\d+)")
SUMMARY = re.compile(
    r"read (\d+) = malformed (\d+) \+ filtered (\d+) \+ in windows (\d+): balanced;"
)


class Demo:
    """A running ``anystream demo`` whose stdout lines are collected by a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "always", "-m", "anystream", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = STARTUP) -> None:
        """Collect lines until ``count`` of them match ``pattern``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while sum(1 for line in self.lines if regex.search(line)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {count} lines matching {pattern!r} in time:\n{self.output()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the demo ended before {pattern!r}:\n{self.output()}")
            self.lines.append(line)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = EXIT) -> tuple[int, str]:
        """Wait for the exit; return (exit code, stderr); all stdout lines are in ``lines``."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the demo did not exit within {timeout} s:\n{self.output()}")
        self._reader.join(timeout=5)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        return self.proc.returncode, err

    def output(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def demo(*args: str) -> Iterator[Demo]:
    d = Demo(*args)
    try:
        yield d
    finally:
        d.close()


def _check_graceful_output(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert lines[0].startswith("anystream demo on"), text
    stopped = [i for i, line in enumerate(lines) if line.startswith("source stopped after")]
    assert len(stopped) == 1, text
    assert "draining" in lines[stopped[0]], text
    windows = [(i, WINDOW.match(line)) for i, line in enumerate(lines)]
    windows = [(i, m) for i, m in windows if m]
    assert len(windows) >= 3, text
    # The last window is the partial one, flushed after the source stopped.
    last_index, _ = windows[-1]
    assert "(final, partial)" in lines[last_index], text
    assert last_index > stopped[0], text
    assert sum("(final, partial)" in lines[i] for i, _ in windows) == 1, text
    # The closing summary balances, and agrees with the windows printed.
    assert lines[-1].startswith("summary:"), text
    m = SUMMARY.search(lines[-1])
    assert m, text
    read, malformed, filtered, in_windows = map(int, m.groups())
    assert read == malformed + filtered + in_windows
    assert in_windows == sum(int(m.group(2)) for _, m in windows)
    assert malformed > 0
    assert re.search(rf"enriched={in_windows}\b", lines[-1]), text
    assert all(len(line) <= 100 for line in lines), "plain lines never wrap at 100 columns"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_one_signal_drains_and_exits_0(backend: str, signame: str) -> None:
    args = ["--backend", backend, "--window", "0.5", "--rate", "2000", "--concurrency", "8"]
    with demo(*args, "--seed", "1") as d:
        d.wait_for(r"^window #", count=3)
        d.signal(getattr(signal, signame))
        code, err = d.finish()
        assert err == ""
        assert code == 0, d.output()
        _check_graceful_output(d.lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slow_drain_is_still_complete(backend: str) -> None:
    """Concurrency 1 behind a full buffer: the drain takes ~1.5 s and loses nothing."""
    args = ["--backend", backend, "--window", "0.5", "--rate", "5000", "--concurrency", "1"]
    with demo(*args) as d:
        d.wait_for(r"buffers: 50/50", count=1)
        d.signal(signal.SIGINT)
        code, err = d.finish()
        assert (code, err) == (0, ""), d.output()
        _check_graceful_output(d.lines)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("signame", "expected"), [("SIGINT", 130), ("SIGTERM", 1)])
def test_a_second_signal_aborts_promptly(backend: str, signame: str, expected: int) -> None:
    # Concurrency 1 behind a full buffer: the graceful drain would take ~1.5 s.
    args = ["--backend", backend, "--window", "0.5", "--rate", "5000", "--concurrency", "1"]
    with demo(*args) as d:
        d.wait_for(r"buffers: 50/50", count=1)
        signum = getattr(signal, signame)
        d.signal(signum)
        d.wait_for(r"^source stopped after")
        sent = time.monotonic()
        d.signal(signum)
        code, err = d.finish()
        took = time.monotonic() - sent
        assert err == ""
        assert code == expected, d.output()
        assert took < 1.0, f"took {took:.2f} s to abort"
        last = d.lines[-1]
        assert last.startswith("aborted:"), d.output()
        assert "items in flight discarded" in last
        assert not any(line.startswith("summary:") for line in d.lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_feed_is_throttled_to_the_enrich_rate_with_flat_memory(backend: str) -> None:
    args = ["--backend", backend, "--window", "0.5", "--rate", "5000", "--concurrency", "1"]
    with demo(*args, "--duration", "3", "--json", "--seed", "2") as d:
        code, err = d.finish(timeout=20)
    assert (code, err) == (0, "")
    records: list[dict[str, Any]] = [json.loads(line) for line in d.lines]
    start, summary = records[0], records[-1]
    assert start["event"] == "start"
    assert start["buffer_sizes"] == [50, 50]
    assert summary["event"] == "summary"
    assert summary["balanced"]
    elapsed = summary["elapsed"]
    # The enrich stage finishes one 30 ms lookup at a time: it bounds what was enriched,
    # and everything read beyond that was dropped early or still fits in the buffers.
    assert summary["enriched"] <= elapsed / 0.030 + 1
    assert summary["enriched"] >= 0.5 * 3.0 / 0.030
    assert summary["read"] < 5000 * 3 / 10  # far below what the feed would have sent
    # Flat memory: no buffer held more than its size (+1 sender waiting for room).
    windows = [r for r in records if r["event"] == "window"]
    for r in [*windows, {"buffer_load": summary["max_buffer_load"]}]:
        assert all(load <= 51 for load in r["buffer_load"]), r
    assert summary["max_buffer_load"][0] >= 50  # it did fill: that is the backpressure
    kinds = [r["event"] for r in records]
    assert kinds.index("stopping") < kinds.index("source_stopped")
    assert windows[-1]["partial"]
