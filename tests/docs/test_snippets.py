"""Every fenced ``python`` block of the README and of docs/ runs.

The blocks of one page run in order, in one namespace, in a fresh interpreter (so a page
may define names in one block and use them in the next, and ``anyio.run`` at the top level
of a block works). A block that cannot run here is preceded by a visible marker line::

    <!-- docs-test: skip because <reason> -->

and is reported as such; shapes that are not meant to run use a ``text`` fence instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(
    r"(?P<marker><!-- docs-test: skip[^>]*-->\s*\n)?```python\n(?P<code>.*?)```", re.S
)


def blocks(page: Path) -> list[tuple[int, str, bool]]:
    """``(line, code, skipped)`` for every python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append((line, match.group("code"), match.group("marker") is not None))
    return found


def _program(page: Path) -> str:
    parts = []
    for line, code, skipped in blocks(page):
        if skipped:
            continue
        # Each block is compiled with its own file name and line numbers, so a failure
        # points at the page and line where the block stands.
        parts.append(f"exec(compile({code!r}, {f'{page.name}:{line}'!r}, 'exec'), namespace)\n")
    return "namespace = {'__name__': '__main__'}\n" + "".join(parts)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_python_block_runs(page: Path, tmp_path: Path) -> None:
    if not any(not skipped for _, _, skipped in blocks(page)):
        pytest.skip(f"{page.name} has no runnable python block")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", _program(page)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, textwrap.shorten(done.stderr, 4000) + done.stderr[-3000:]


def test_skipped_blocks_say_why() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for marker in re.findall(r"<!-- docs-test:[^>]*-->", text):
            assert re.fullmatch(r"<!-- docs-test: skip because .+ -->", marker), (page, marker)
