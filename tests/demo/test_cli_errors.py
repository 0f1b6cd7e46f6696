"""An error a command meets is one line on stderr and exit code 1; ``--debug`` shows more.

A user running ``anystream demo ...`` should never see a traceback for an unreachable
server or a bad file, and never a password: the line names the error and how to see the
traceback (``--debug``, accepted anywhere on the command line).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from anystream import cli


class _Boom:
    HELP = "fails on purpose"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default="redis://alice:s3cret@127.0.0.1:1/0")

    def run(self, args: argparse.Namespace) -> int:
        raise ExceptionGroup("run", [ConnectionError(f"cannot reach {args.url}\n  (refused)")])


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.DEMOS, "boom", "boom")
    real_load = cli._load
    monkeypatch.setattr(cli, "_load", lambda spec: _Boom() if spec == "boom" else real_load(spec))


@pytest.mark.usefixtures("boom")
def test_an_error_is_one_masked_line_and_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "boom"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("anystream: error: ConnectionError: cannot reach redis://alice:***@")
    assert "s3cret" not in err
    assert "Traceback" not in err
    assert "--debug" in err


@pytest.mark.usefixtures("boom")
@pytest.mark.parametrize("where", ["first", "last"])
def test_debug_anywhere_shows_the_real_error(where: str) -> None:
    argv = ["--debug", "demo", "boom"] if where == "first" else ["demo", "boom", "--debug"]
    with pytest.raises(ExceptionGroup):
        cli.main(argv)


@pytest.mark.timeout(120)
def test_an_unreachable_redis_is_one_line_without_the_password() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anystream", "demo", "worker", "--consumer", "w",
         "--url", "redis://alice:s3cret@127.0.0.1:1", "--reconnect", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert "s3cret" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
