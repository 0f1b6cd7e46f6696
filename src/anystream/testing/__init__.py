"""Test helpers for anystream pipelines: virtual clocks, scripted sources, recorders, marbles.

::

    from anystream.testing import at, marbles, raise_, record, scripted

    rec = await record(scripted(at(0.5, "a"), at(1.0, "b")) | map(str.upper))
    assert rec.events == [(0.5, "A"), (1.0, "B")]
    assert rec.marbles(frame=0.5) == "-A(B|)"

Importing this package does not import pytest; the pytest integration lives in
:mod:`anystream.testing.pytest_plugin` and is enabled with ``-p anystream.testing.pytest_plugin``.
"""

from anystream.testing._asyncio_clock import VirtualClockEventLoop, run
from anystream.testing.recorder import Recorder, Recording, marbles, record
from anystream.testing.sources import (
    At,
    Directive,
    End,
    Hang,
    Raise,
    ScriptedSource,
    at,
    end,
    hang,
    raise_,
    scripted,
)
from anystream.testing.tracking import CountingSource, raised_in

__all__ = [
    "At",
    "CountingSource",
    "Directive",
    "End",
    "Hang",
    "Raise",
    "Recorder",
    "Recording",
    "ScriptedSource",
    "VirtualClockEventLoop",
    "at",
    "end",
    "hang",
    "marbles",
    "raise_",
    "raised_in",
    "record",
    "run",
    "scripted",
]
