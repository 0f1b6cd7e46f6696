"""Real processes, real signals: an abort during a graceful drain always ends the process.

The shape that used to hang: a sync source, a ``buffered(1)`` hand-off, and a slow,
blocking stage in the consumer's own task. After the first SIGINT the source finishes
the item in hand while the consumer is still busy; the abort (a second SIGINT, SIGTERM
after SIGINT, or the grace period running out) then has to break that finish, or the
run waits for the source and the source for the consumer. Each case is run several
times on each backend, since the hang depended on where the second signal landed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.timeout(300),
]

BACKENDS = ["asyncio", "trio"]
STARTUP = 20.0  # generous: the machine is shared
EXIT = 10.0  # the bound a user would accept for a second Ctrl-C

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import anyio
    import anystream as st

    backend, grace, size, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    def slow(x):
        time.sleep(0.15)  # a blocking stage, run in the consumer's task
        return x

    async def main():
        pipeline = st.from_iterable(iter(range(10**9))) | st.buffered(size)
        if mode == "blocking":
            pipeline = pipeline | st.map(slow)
        told = False
        n = 0
        async with pipeline.stream(
            handle_signals=True, grace=None if grace == "none" else float(grace)
        ) as run:
            async for _ in run:
                if mode == "async":
                    await anyio.sleep(0.15)  # a slow consumer that lets the loop run
                n += 1
                if n == 2:
                    print("running", flush=True)
                if run.stopping and not told:
                    told = True
                    print("stopping", flush=True)
        print("drained", n, flush=True)

    try:
        anyio.run(main, backend=backend)
    except KeyboardInterrupt as exc:
        print("interrupted", *getattr(exc, "__notes__", []), flush=True)
        sys.exit(130)
    except st.Aborted as exc:
        print("aborted:", exc, *getattr(exc, "__notes__", []), flush=True)
        sys.exit(1)
    """
)


def _start(
    tmp_path: Path, backend: str, grace: str, size: int, mode: str = "blocking"
) -> subprocess.Popen[str]:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, "-W", "always", str(script), backend, grace, str(size), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _wait_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip() == text:
            return
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"no {text!r} line in time; stdout={out!r} stderr={err!r}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=EXIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the process hung after the abort; stdout={out!r} stderr={err!r}")
    return proc.returncode, out, err


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attempt", range(5))
@pytest.mark.parametrize(
    ("second", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 1, "aborted")],
    ids=["SIGINT-SIGINT", "SIGINT-SIGTERM"],
)
@pytest.mark.parametrize("mode", ["async", "blocking"])
def test_a_second_signal_during_the_drain_ends_the_process(
    tmp_path: Path,
    backend: str,
    attempt: int,
    second: signal.Signals,
    code: int,
    word: str,
    mode: str,
) -> None:
    proc = _start(tmp_path, backend, "none", 1, mode)
    _wait_line(proc, "running")
    proc.send_signal(signal.SIGINT)
    # The first signal has been seen (the consumer says so): land the second at a
    # different point of the drain each attempt.
    _wait_line(proc, "stopping")
    time.sleep(0.03 * attempt)
    proc.send_signal(second)
    returncode, out, err = _finish(proc)
    if returncode in (0, -second) or "drained" in out:
        # The drain won the race (it is short): the run ended cleanly and restored the
        # default handlers, so the second signal met Python's own handling (or none).
        assert returncode in (0, code, -second), (returncode, out, err)
    else:
        assert returncode == code, (out, err)
        assert word in out
    assert "Traceback" not in err, err


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attempt", range(3))
def test_grace_running_out_during_the_drain_ends_the_process(
    tmp_path: Path, backend: str, attempt: int
) -> None:
    # The consumer takes 0.15 s per item (awaiting), the grace is 0.1 s: it runs out
    # while the source is finishing its item in hand behind a full buffered(1).
    proc = _start(tmp_path, backend, "0.1", 1, "async")
    _wait_line(proc, "running")
    time.sleep(0.05 * attempt)
    proc.send_signal(signal.SIGINT)
    returncode, out, err = _finish(proc)
    assert returncode == 1, (out, err)
    assert "did not finish within 0.1 s" in out
    assert "Traceback" not in err, err
