"""The pytest11 entry point: inert by default, the full plugin with one ini line."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_TEST_FILE = textwrap.dedent(
    """
    import anyio
    import pytest


    @pytest.mark.anyio
    async def test_sleep(anyio_backend_name):
        start = anyio.current_time()
        await anyio.sleep(3600)
        elapsed = anyio.current_time() - start
        print(f"BACKEND={anyio_backend_name} ELAPSED={elapsed:.0f}")
    """
)


def _registered() -> bool:
    return any(
        ep.value == "anystream.testing.pytest_entry"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


def _run(tmp_path: Path, ini: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(_TEST_FILE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


pytestmark = pytest.mark.skipif(
    not _registered(), reason="anystream is not installed with its entry points (pip install -e .)"
)


def test_the_entry_point_is_inert_without_the_ini_option(tmp_path: Path) -> None:
    # anyio's own fixture stays in charge: asyncio only, on the real clock (so the test
    # would take an hour; it is given a short real timeout instead and must not hang).
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest


            def test_backend_fixture_is_anyios(request):
                fixturedefs = request._fixturemanager.getfixturedefs("anyio_backend", request.node)
                assert fixturedefs[-1].func.__module__ == "anyio.pytest_plugin"
            """
        )
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_one_ini_line_gives_both_backends_on_virtual_clocks(tmp_path: Path) -> None:
    done = _run(tmp_path, "anystream_backends = true\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "BACKEND=asyncio ELAPSED=3600" in done.stdout
    assert "BACKEND=trio ELAPSED=3600" in done.stdout


def test_explicit_p_and_the_ini_option_do_not_register_twice(tmp_path: Path) -> None:
    done = _run(
        tmp_path,
        "anystream_backends = true\naddopts = -p anyio -p anystream.testing.pytest_plugin\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
