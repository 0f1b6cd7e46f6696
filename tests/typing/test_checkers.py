"""Both type checkers on tests/typing: the pinned files pass, every planted mistake fails.

Skipped when pyright is missing, unless ANYSTREAM_REQUIRE_PYRIGHT=1 (CI sets it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
# A plain script next to this file (tests/ has no packages); load it by path.
_spec = importlib.util.spec_from_file_location(
    "anystream_check_mistakes", Path(__file__).with_name("check_mistakes.py")
)
assert _spec is not None
assert _spec.loader is not None
check_mistakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_mistakes)

pytestmark = pytest.mark.skipif(
    shutil.which("pyright") is None and os.environ.get("ANYSTREAM_REQUIRE_PYRIGHT") != "1",
    reason="pyright is not installed (CI installs it and sets ANYSTREAM_REQUIRE_PYRIGHT=1)",
)


def test_pyright_strict_passes_the_pinned_files() -> None:
    exe = shutil.which("pyright")
    assert exe is not None, "pyright is required (ANYSTREAM_REQUIRE_PYRIGHT=1)"
    proc = subprocess.run(
        [exe], capture_output=True, text=True, cwd=ROOT, env=check_mistakes._env(), check=False
    )
    assert proc.returncode == 0, proc.stdout
    assert "0 errors" in proc.stdout


def test_mypy_strict_passes_the_pinned_files() -> None:
    files = sorted(str(p) for p in Path(__file__).parent.glob("check_*types.py"))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=check_mistakes._env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("path", check_mistakes.MISTAKES, ids=lambda p: p.name)
def test_both_checkers_reject_every_planted_mistake(path: Path) -> None:
    assert check_mistakes.planted(path), f"{path.name} plants no mistake"
    assert check_mistakes.check(path) == []
