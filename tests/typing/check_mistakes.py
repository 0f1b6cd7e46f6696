"""Run mypy --strict and pyright strict on each file of deliberate mistakes.

Every line marked ``# expect-error`` must be reported by each checker, and no other line
may be. Exit status 1 (with the missing or extra lines printed) otherwise. Used by
``test_checkers.py`` and by CI (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MISTAKES = sorted((HERE / "mistakes").glob("mistakes_*.py"))


def planted(path: Path) -> set[int]:
    lines = path.read_text().splitlines()
    return {i for i, line in enumerate(lines, 1) if "# expect-error" in line}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def mypy_lines(path: Path) -> set[int]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        check=False,
    ).stdout
    name = re.escape(path.name)
    return {int(m.group(1)) for m in re.finditer(rf"{name}:(\d+): error:", out)}


def pyright_lines(path: Path) -> set[int]:
    exe = shutil.which("pyright")
    if exe is None:
        raise FileNotFoundError("pyright is not installed (pip install pyright)")
    proc = subprocess.run(
        [exe, "--outputjson", "--pythonversion", "3.11", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        check=False,
    )
    report = json.loads(proc.stdout)
    return {
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }


def check(path: Path) -> list[str]:
    want = planted(path)
    problems = []
    for checker, got in (("mypy", mypy_lines(path)), ("pyright", pyright_lines(path))):
        for line in sorted(want - got):
            problems.append(f"{path.name}:{line}: {checker} did not report the planted mistake")
        for line in sorted(got - want):
            problems.append(f"{path.name}:{line}: {checker} reported an unplanted error")
    return problems


def main() -> int:
    problems = [p for path in MISTAKES for p in check(path)]
    for p in problems:
        print(p)
    total = sum(len(planted(p)) for p in MISTAKES)
    print(f"{len(MISTAKES)} mistake file(s), {total} planted line(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
