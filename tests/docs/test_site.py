"""The documentation site builds with ``--strict`` and has an API anchor for every public name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import anystream

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strict_with_an_anchor_per_public_name(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    html = "".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    missing = [name for name in anystream.__all__ if f'id="anystream.{name}"' not in html]
    assert missing == [], f"no API anchor for {missing}"
    for module in ("anystream.testing", "anystream.observe", "anystream.connectors.redis"):
        assert f'id="{module}"' in html, module
