"""Where is this code running: a Jupyter kernel, a terminal a person watches, or neither.

Shared by the live views (``progress``, ``plan_view``) so that neither imports the other
for it.
"""

from __future__ import annotations

import sys
from typing import IO

__all__ = ["in_jupyter", "is_interactive_terminal"]


def in_jupyter() -> bool:
    """True inside an IPython *kernel* (Jupyter, VS Code notebooks), not a terminal IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_interactive_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default ``sys.stderr``) is a terminal a person is looking at."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False
