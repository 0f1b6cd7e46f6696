"""The simulated feed: raw CSV lines ``ts,type,severity,user_id``, forever.

Lines arrive at an irregular pace, a gap drawn uniformly from 10-60 ms between two lines,
or at a fixed target ``rate`` (lines per second) to show backpressure: the feed is an
async iterator, so when the pipeline behind it is full it is simply not asked for the
next line, and it does not burst to "catch up" afterwards. Every ``malformed_every``-th
line (the 8th, 16th, ...) is malformed in one of a few ways a real feed breaks. With a
``seed`` the sequence of lines (and of gaps) is reproducible.

:class:`Feed` is an async *iterable*: every ``async for`` (every run of a stream built on
it) starts a fresh sequence, so a stream using it can be run again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable

import anyio
from anyio.lowlevel import checkpoint

from .events import TYPES

__all__ = ["Feed"]

logger: logging.Logger = logging.getLogger("anystream.demo.feed")

_SEVERITY_MIX = ("debug", "info", "info", "warn", "error")

#: How far behind its schedule a rate-paced feed may fall (because the pipeline held it
#: back) before it gives up on the missed lines instead of sending them in a burst.
MAX_LAG = 0.05


def _malformed(rng: random.Random, ts: str) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"{ts},order,info"  # a field missing
    if kind == 1:
        return f"{ts},order,loud,{rng.randint(1, 5)}"  # unknown severity
    if kind == 2:
        return f"{ts},auth,warn,user{rng.randint(1, 5)}"  # user id not a number
    if kind == 3:
        return f"{ts};payment;error;2"  # wrong separator
    return "\x00garbage\x00"


class Feed:
    """An endless (or ``limit``-long) async iterable of raw feed lines.

    ``rate=None`` draws each gap from ``[min_gap, max_gap]`` seconds; a number paces the
    feed at that many lines per second. ``on_stop(lines)`` is called when an iteration
    ends for any reason (stop, abort, ``limit``), from the iterator's ``finally``.
    ``lines`` and ``malformed`` count what the latest iteration produced.
    """

    def __init__(
        self,
        *,
        rate: float | None = None,
        seed: int | None = None,
        min_gap: float = 0.010,
        max_gap: float = 0.060,
        malformed_every: int | None = 8,
        limit: int | None = None,
        on_stop: Callable[[int], None] | None = None,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"Feed(): rate must be > 0 lines per second, got {rate}")
        if not 0 <= min_gap <= max_gap:
            raise ValueError(
                f"Feed(): need 0 <= min_gap <= max_gap, got min_gap={min_gap}, max_gap={max_gap}"
            )
        if malformed_every is not None and malformed_every < 1:
            raise ValueError(f"Feed(): malformed_every must be >= 1, got {malformed_every}")
        if limit is not None and limit < 0:
            raise ValueError(f"Feed(): limit must be >= 0, got {limit}")
        self.rate = rate
        self.seed = seed
        self.min_gap = min_gap
        self.max_gap = max_gap
        self.malformed_every = malformed_every
        self.limit = limit
        self.on_stop = on_stop
        self.lines: int = 0
        self.malformed: int = 0
        self.stopped: bool = False

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    def _gap(self, rng: random.Random) -> float:
        if self.rate is not None:
            return 1.0 / self.rate
        return rng.uniform(self.min_gap, self.max_gap)

    async def _lines(self) -> AsyncIterator[str]:
        rng = random.Random(self.seed)
        self.lines = self.malformed = 0
        self.stopped = False
        start = anyio.current_time()
        due = start
        every = self.malformed_every
        try:
            while self.limit is None or self.lines < self.limit:
                due += self._gap(rng)
                now = anyio.current_time()
                if due > now:
                    await anyio.sleep(due - now)
                    now = due
                else:
                    if now - due > MAX_LAG:
                        due = now  # held back by backpressure: do not burst afterwards
                    await checkpoint()
                ts = f"{now - start:.3f}"
                n = self.lines + 1
                if every is not None and n % every == 0:
                    line = _malformed(rng, ts)
                    self.malformed += 1
                else:
                    kind = rng.choice(TYPES)
                    severity = rng.choice(_SEVERITY_MIX)
                    line = f"{ts},{kind},{severity},{rng.randint(1, 5)}"
                self.lines = n
                yield line
        finally:
            self.stopped = True
            logger.info("feed stopped after %d lines", self.lines)
            if self.on_stop is not None:
                self.on_stop(self.lines)
