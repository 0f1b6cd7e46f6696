"""Compare rendered text or HTML against a file in ``tests/observe/snapshots/``.

Run with ``ANYSTREAM_UPDATE_SNAPSHOTS=1`` to (re)write the files after a deliberate change
of the rendering; review the diff of the snapshot files like code.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("ANYSTREAM_UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}: run once with ANYSTREAM_UPDATE_SNAPSHOTS=1"
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, f"{name} differs from its snapshot:\n{rendered}"


def rich_text(renderable: object, width: int = 80) -> str:
    """What a terminal of ``width`` columns shows for ``renderable``."""
    from rich.console import Console

    console = Console(record=True, width=width, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    text = console.export_text()
    console.file.close()
    return text
