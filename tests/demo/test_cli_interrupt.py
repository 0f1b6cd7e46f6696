"""A Ctrl-C while the command line is still importing ends it with 130 and no traceback.

Real subprocesses: ``python -m anystream`` and the console script's own first steps
(``from anystream.cli import main; sys.exit(main())``). To land the SIGINT inside the
imports every time, a ``sitecustomize`` on the child's ``PYTHONPATH`` (this test's
only) installs an import hook that announces chosen modules on stdout and sleeps before
letting them import; the signal is sent at several delays after the first announcement,
so that it arrives in different imports and at different points of a sleep.

What stays out of reach, and is not tested: a signal during the interpreter's own
start-up or during ``import anystream`` (the package's small ``__init__``), both before
any code of the command runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SRC = Path(__file__).resolve().parents[2] / "src"

SITECUSTOMIZE = """
import os
import sys
import time


class _SlowImports:
    # ANYSTREAM_TEST_SLOW_IMPORTS="module=seconds,...": announce the module on stdout,
    # sleep, then let the normal finders import it. "module=exec:seconds" sleeps inside
    # an exec() of a string, as the code dataclasses and namedtuple generate runs: a
    # KeyboardInterrupt ending such an exec() is remembered by CPython even once caught.
    def find_spec(self, name, path=None, target=None):
        for entry in os.environ.get("ANYSTREAM_TEST_SLOW_IMPORTS", "").split(","):
            module, _, seconds = entry.partition("=")
            if module == name:
                sys.stdout.write(f"importing {name}\\n")
                sys.stdout.flush()
                if seconds.startswith("exec:"):
                    exec(f"import time; time.sleep({seconds[5:]})", {})
                else:
                    time.sleep(float(seconds))
        return None


sys.meta_path.insert(0, _SlowImports())
"""

# The last module sleeps far longer than any delay: the signal always arrives while the
# command is importing, never after it has finished.
COMMANDS = {
    "python -m anystream": (
        ["-m", "anystream", "demo", "--help"],
        "anystream.cli=0.3,argparse=0.2,anystream.demo.cli_realtime=exec:0.3,"
        "anystream.demo.redis_demo=60",
    ),
    "console script": (
        ["-c", "import sys; from anystream.cli import main; sys.exit(main())", "demo", "--help"],
        "argparse=0.3,anystream.demo.cli_realtime=exec:0.3,anystream.demo.redis_demo=60",
    ),
}

# (announced module to wait for, seconds after its announcement); None: the first one.
# The longer delays land between announced modules, in imports nobody slowed down.
MOMENTS = (
    (None, 0.0),
    (None, 0.02),
    (None, 0.1),
    (None, 0.35),
    (None, 0.6),
    ("argparse", 0.0),
    ("argparse", 0.25),
    ("anystream.demo.cli_realtime", 0.0),
    ("anystream.demo.cli_realtime", 0.1),
    ("anystream.demo.cli_realtime", 0.32),
    ("anystream.demo.redis_demo", 0.05),
    ("anystream.demo.redis_demo", 0.5),
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigint_during_the_imports_exits_130_without_a_traceback(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    args, plan = COMMANDS[command]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)]),
        "ANYSTREAM_TEST_SLOW_IMPORTS": plan,
    }
    for target, delay in MOMENTS:
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert proc.stdout is not None
            seen = [proc.stdout.readline()]
            while target is not None and seen[-1] not in (f"importing {target}\n", ""):
                seen.append(proc.stdout.readline())
            assert seen[-1].startswith("importing "), seen
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        where = f"{command}, SIGINT {delay} s after {seen[-1].strip()!r}; stdout {out!r}"
        assert proc.returncode == 130, f"{where}: exit {proc.returncode}, stderr:\n{err}"
        assert "Traceback" not in err, f"{where}:\n{err}"
        assert "KeyboardInterrupt" not in err, f"{where}:\n{err}"
