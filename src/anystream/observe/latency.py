"""Per-stage timing of a pipeline: where each item's time goes, summarised in bounded memory.

This is the public home of the timing types. They are defined in
``anystream._core.latency`` because the runner's ``timing=True`` records into them, and
the core imports nothing from ``anystream.observe`` (issue 19's layering); the full
description (what ``wait``, ``compute`` and ``blocked`` measure, and how a stage records
them) is that module's docstring, also available as this module's ``__doc__``.
"""

from __future__ import annotations

from .._core import latency as _impl
from .._core.latency import (
    EntryTimes,
    LatencyReport,
    PipelineTiming,
    StageReport,
    StageTiming,
    Stopwatch,
    Summary,
    format_duration,
)

__doc__ = _impl.__doc__

__all__ = [
    "EntryTimes",
    "LatencyReport",
    "PipelineTiming",
    "StageReport",
    "StageTiming",
    "Stopwatch",
    "Summary",
    "format_duration",
]
