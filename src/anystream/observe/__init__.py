"""Observing a pipeline: per-stage timing and latency (``latency``), streaming quantiles
(``quantiles``), and per-operator metrics sampled from a run's counters (``metrics``).

The timing types are re-exported here; import the other modules by name.
"""

from .latency import (
    EntryTimes,
    LatencyReport,
    PipelineTiming,
    StageReport,
    StageTiming,
    Stopwatch,
    Summary,
    format_duration,
)
from .quantiles import QuantileSketch

__all__ = [
    "EntryTimes",
    "LatencyReport",
    "PipelineTiming",
    "QuantileSketch",
    "StageReport",
    "StageTiming",
    "Stopwatch",
    "Summary",
    "format_duration",
]
