"""tools/check_layers.py: the tree is layered, and planted violations and cycles fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_layers.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False
    )


def test_the_tree_passes() -> None:
    result = run(str(ROOT / "src"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "layering clean" in result.stdout


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def fake_package(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for pkg in ("", "_core/", "ops/", "observe/", "resilience/"):
        write(src, f"anystream/{pkg}__init__.py", "")
    write(src, "anystream/observe/progress.py", "X = 1\n")
    write(src, "anystream/resilience/retry.py", "X = 1\n")
    write(src, "anystream/_core/stats.py", "X = 1\n")
    # allowed: ops -> resilience, ops -> _core, observe -> _core
    write(
        src, "anystream/ops/map.py", "from ..resilience import retry\nfrom .._core import stats\n"
    )
    write(src, "anystream/observe/metrics.py", "from anystream._core.stats import X\n")
    return src


def test_a_clean_fake_package_passes(tmp_path: Path) -> None:
    result = run(str(fake_package(tmp_path)))
    assert result.returncode == 0, result.stdout


def test_a_lazy_outward_import_in_the_core_fails(tmp_path: Path) -> None:
    src = fake_package(tmp_path)
    write(
        src,
        "anystream/_core/runner.py",
        "import os\n\n\ndef enter():\n    from ..observe.progress import X\n    return X\n",
    )
    result = run(str(src))
    assert result.returncode == 1
    assert "_core/runner.py:5:" in result.stdout
    assert "anystream.observe.progress" in result.stdout
    assert "_core must not import from observe" in result.stdout


def test_ops_importing_observe_under_type_checking_fails(tmp_path: Path) -> None:
    src = fake_package(tmp_path)
    write(
        src,
        "anystream/ops/time.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    import anystream.observe.metrics\n",
    )
    result = run(str(src))
    assert result.returncode == 1
    assert "ops/time.py:3:" in result.stdout
    assert "ops must not import from observe" in result.stdout


def test_a_module_level_cycle_fails_naming_it(tmp_path: Path) -> None:
    src = fake_package(tmp_path)
    write(src, "anystream/_core/a.py", "from . import b\n")
    write(src, "anystream/_core/b.py", "from .c import X\n")
    write(src, "anystream/_core/c.py", "from anystream._core import a\nX = 1\n")
    result = run(str(src))
    assert result.returncode == 1
    assert (
        "import cycle (3 modules): anystream._core.a -> anystream._core.b -> "
        "anystream._core.c -> anystream._core.a"
    ) in result.stdout


def test_a_lazy_import_back_is_not_a_cycle(tmp_path: Path) -> None:
    src = fake_package(tmp_path)
    write(src, "anystream/_core/a.py", "from . import b\n")
    write(src, "anystream/_core/b.py", "def f():\n    from . import a\n    return a\n")
    result = run(str(src))
    assert result.returncode == 0, result.stdout
