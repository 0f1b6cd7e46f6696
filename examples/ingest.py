"""The resilient-ingestion scenario: 500 events into a flaky sink, all accounted for.

Run it with ``python examples/ingest.py [asyncio|trio]`` (about 15 s of real time) or
``python examples/ingest.py --virtual`` to run it on a virtual clock in a moment.
See ``anystream/demo/ingest.py`` for the pipeline.
"""

import sys

import anyio

from anystream.demo.ingest import run_ingest
from anystream.testing import run


async def main() -> None:
    report = await run_ingest(500, abort_after=200)
    print("\n".join(report.lines()))
    assert report.accounted
    assert report.exactly_once


if __name__ == "__main__":
    backend = next((a for a in sys.argv[1:] if a in ("asyncio", "trio")), "asyncio")
    if "--virtual" in sys.argv:
        run(main, backend=backend)
    else:
        anyio.run(main, backend=backend)
