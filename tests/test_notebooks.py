"""Execute every notebook in notebooks/ in a fresh Jupyter kernel and fail on any error.

The notebooks are committed without outputs; this runs them top to bottom with nbclient
(kernel ``python3``: the interpreter running the tests, through ipykernel), with a time
limit per cell, and fails on the first cell that raises. Their own ``assert`` cells check
what they show. Nothing is written back.

Needs the dev dependencies nbclient, nbformat, ipykernel and matplotlib.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 60  # seconds; the slowest cell (the 10 s backpressure run) takes ~11 s
NOTEBOOK_BUDGET = 60  # seconds per notebook, kernel start included


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS


@pytest.mark.real_clock
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_error(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits the environment
    # Notebooks must be committed without outputs (diffs stay readable, nothing stale).
    book = nbformat.read(path, as_version=4)
    stale = [i for i, c in enumerate(book.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not stale, f"{path.name}: cells {stale} have outputs; clear them before committing"
    client = nbclient.NotebookClient(
        book,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    client.execute()
    elapsed = time.monotonic() - start
    assert elapsed < NOTEBOOK_BUDGET, f"{path.name} took {elapsed:.1f} s"
    # A notebook that plots must show its plots (an Agg figure without the PNG
    # formatter would only print "<Figure size ...>").
    if any("matplotlib" in c.source for c in book.cells):
        outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert images, f"{path.name} plots but shows no image"
