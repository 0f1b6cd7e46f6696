"""Test helpers for anystream pipelines: virtual clocks now, scripted sources and recorders later.

Importing this package does not import pytest; the pytest integration lives in
:mod:`anystream.testing.pytest_plugin` and is enabled with ``-p anystream.testing.pytest_plugin``.
"""

from anystream.testing._clock import VirtualClockEventLoop, run

__all__ = [
    "VirtualClockEventLoop",
    "run",
]
