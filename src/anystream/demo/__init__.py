"""The reference real-time pipeline (``anystream demo``), usable from Python too.

::

    from anystream.demo import build_pipeline

    windows = build_pipeline(window=1.0, seed=7, limit=500)   # a Stream of Windows
    async with windows.stream() as run:
        async for w in run:
            print(w.start, len(w))

See :mod:`anystream.demo.pipeline` for the pipeline, :mod:`anystream.demo.feed` for the
simulated feed and :mod:`anystream.demo.events` for parsing, enrichment and summaries.
"""

from .events import Event, RegionService, WindowSummary, parse_event, summarize
from .feed import Feed
from .pipeline import Demo, DemoConfig, DemoSummary, build_demo, build_pipeline

__all__ = [
    "Demo",
    "DemoConfig",
    "DemoSummary",
    "Event",
    "Feed",
    "RegionService",
    "WindowSummary",
    "build_demo",
    "build_pipeline",
    "parse_event",
    "summarize",
]
