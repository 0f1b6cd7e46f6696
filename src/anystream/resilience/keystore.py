"""A bounded-memory set of recently seen keys, for deduplication and idempotent sinks.

Why: at-least-once delivery means a sink can see the same event twice (a retry after a
write that succeeded but whose acknowledgement was lost, a redelivery after a consumer
restart). Events carry ids, so the sink can drop a repeat by remembering the ids it has
seen. It cannot remember them all in a pipeline that runs forever, so `SeenKeys` forgets
the oldest: by count (``max_keys``), by age (``ttl``), or both. Duplicates are caught
within that window, and memory stays bounded however long the pipeline runs.

The guarantee, precisely. Say key ``k`` was last added (`SeenKeys.add`, whether it was new
or a repeat) at time ``t``. It is still retained, so a repeat of it is detected, as long
as both hold:

- with ``ttl``: the current time is before ``t + ttl`` (``now - t < ttl``); and
- with ``max_keys``: fewer than ``max_keys`` *distinct* other keys have been added since.

Outside that window the key is forgotten and a repeat counts as new. Only `add` refreshes
a key; looking it up with ``in`` does not.

Memory: at most ``max_keys`` keys. With ``ttl`` alone, at most the number of distinct keys
added during the last ``ttl`` before the latest `add` (expired keys are dropped as part of
each `add`, and `len` drops them too). Every operation is O(1) amortised: keys live in an
`OrderedDict` in the order they were last added, which is also the order in which they
expire or get evicted, so forgetting always pops from the front.

Time comes from ``clock``, a callable returning seconds that never go backwards. By
default it is `anyio.current_time` if the first operation that needs the time runs inside
an event loop, and `time.monotonic` otherwise; the choice is kept for the life of the
object (two clocks do not mix: trio's clock has its own origin). So one `SeenKeys` belongs
to one event loop run, unless you pass a clock yourself.

Not thread-safe; safe between tasks of one event loop, since no method awaits.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["SeenKeys"]

K = TypeVar("K", bound=Hashable)

Clock = Callable[[], float]


class SeenKeys(Generic[K]):
    """A set of recently seen keys that forgets the oldest, bounded by count and/or age.

    Args:
        max_keys: keep at most this many keys (>= 1); adding one more evicts the key that
            was least recently added.
        ttl: forget a key this many seconds (> 0) after it was last added.
        clock: a callable returning the current time in seconds, never going backwards.
            Only used with `ttl`. Default: see the module docstring.

    At least one of `max_keys` and `ttl` is required. Typical use in a sink::

        seen: SeenKeys[str] = SeenKeys(max_keys=100_000, ttl=3600)
        if seen.add(event.id):
            try:
                await write(event)
            except BaseException:
                seen.discard(event.id)  # not delivered: a redelivery must go through
                raise
    """

    __slots__ = ("_clock", "_evicted", "_keys", "_max_keys", "_ttl")

    def __init__(
        self,
        *,
        max_keys: int | None = None,
        ttl: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_keys is None and ttl is None:
            raise ValueError(
                "SeenKeys needs max_keys, ttl or both: without a bound, memory would grow "
                "without limit"
            )
        if max_keys is not None:
            if isinstance(max_keys, bool) or not isinstance(max_keys, int):
                raise TypeError(f"max_keys must be an int or None, got {max_keys!r}")
            if max_keys < 1:
                raise ValueError(f"max_keys must be >= 1, got {max_keys!r}")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
                raise TypeError(f"ttl must be a number of seconds or None, got {ttl!r}")
            if not (math.isfinite(ttl) and ttl > 0):
                raise ValueError(f"ttl must be > 0 and finite, got {ttl!r}")
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self._max_keys = max_keys
        self._ttl = ttl
        self._clock = clock
        # key -> time it was last added (0.0 when there is no ttl), oldest first.
        self._keys: OrderedDict[K, float] = OrderedDict()
        self._evicted = 0

    @property
    def max_keys(self) -> int | None:
        """The bound on the number of keys, or None."""
        return self._max_keys

    @property
    def ttl(self) -> float | None:
        """How long a key is remembered after it was last added, in seconds, or None."""
        return self._ttl

    @property
    def evicted(self) -> int:
        """How many keys have been forgotten because of `max_keys` or `ttl` so far.

        Expired keys are counted when they are dropped (during `add` or `len`).
        `discard` and `clear` do not count.
        """
        return self._evicted

    def add(self, key: K) -> bool:
        """Record `key` as seen now; return True if it was new, False for a duplicate.

        A duplicate is refreshed: its ttl starts again and it becomes the most recent key.
        """
        keys = self._keys
        now = 0.0
        if self._ttl is not None:
            now = self._now()
            self._expire(now)
        if key in keys:
            keys.move_to_end(key)
            keys[key] = now
            return False
        keys[key] = now
        if self._max_keys is not None and len(keys) > self._max_keys:
            keys.popitem(last=False)
            self._evicted += 1
        return True

    def discard(self, key: K) -> None:
        """Forget `key` if present, e.g. because the write it guarded failed after all."""
        self._keys.pop(key, None)

    def clear(self) -> None:
        """Forget every key (the `evicted` count is kept)."""
        self._keys.clear()

    def __contains__(self, key: object) -> bool:
        """Whether `key` is retained: `add(key)` now would return False. Does not refresh."""
        try:
            stamp = self._keys[key]  # type: ignore[index]
        except KeyError:
            return False
        return self._ttl is None or not self._is_expired(stamp, self._now())

    def __len__(self) -> int:
        """The number of retained keys (drops expired ones first)."""
        if self._ttl is not None:
            self._expire(self._now())
        return len(self._keys)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(max_keys={self._max_keys!r}, ttl={self._ttl!r}, "
            f"stored={len(self._keys)}, evicted={self._evicted})"
        )

    def _now(self) -> float:
        clock = self._clock
        if clock is None:
            clock = self._clock = _default_clock()
        return clock()

    def _is_expired(self, stamp: float, now: float) -> bool:
        assert self._ttl is not None
        return now - stamp >= self._ttl

    def _expire(self, now: float) -> None:
        # Keys are ordered by the time they were last added, so the expired ones are a
        # prefix: pop until the first live key. Each key is popped at most once per add,
        # hence O(1) amortised.
        keys = self._keys
        while keys:
            oldest = next(iter(keys))
            if not self._is_expired(keys[oldest], now):
                break
            del keys[oldest]
            self._evicted += 1


def _default_clock() -> Clock:
    """`anyio.current_time` inside an event loop, `time.monotonic` outside one."""
    try:
        anyio.current_time()
    except RuntimeError:  # anyio.NoEventLoopError (sniffio's error on older anyio)
        return time.monotonic
    return anyio.current_time
