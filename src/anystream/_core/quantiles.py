"""Streaming quantiles in bounded memory, with a guaranteed relative error.

Why a log-bucket sketch and not a reservoir
-------------------------------------------
A pipeline's timing report needs p50, p95 and p99 of millions of durations without
keeping them. The two usual answers:

* A fixed-size *reservoir* (keep a uniform random sample of k values) is simple, but its
  error is statistical and worst exactly where latency reports look: with k = 1024 the
  p99 is estimated from about ten sampled values, so two runs of the same pipeline can
  report p99s a factor of two apart. Its memory is fixed; its accuracy is not.
* A *log-bucket histogram* (DDSketch, Masson et al., VLDB 2019; HDR histograms are a
  close cousin) counts values in buckets whose bounds grow geometrically by a factor
  ``gamma = (1 + a) / (1 - a)``. Every value in a bucket is within a relative distance
  ``a`` of the bucket's representative ``2 gamma^i / (gamma + 1)``, so any quantile is
  reported within ``a`` of the true value, *deterministically*, for p99 as for p50.
  Memory grows with the logarithm of the value range, not with the count: with
  ``a = 1%`` every duration from 1 ns to 11 days fits in about 2,000 buckets. Sketches
  merge exactly (add the counts), which a reservoir cannot do without bias.

So :class:`QuantileSketch` is a DDSketch: a dict from bucket index to count, plus the
exact count, sum, min and max. Adding a value costs one ``log``, one ``ceil`` and a dict
update; nothing is allocated beyond the count itself.

Durations only: values at or below ``min_value`` (default 1 ns, including 0 and any
negative value a clock adjustment might produce) are counted in a zero bucket and
reported as 0 (an absolute error of at most ``min_value``). If a sketch would ever need
more than ``max_buckets`` buckets, its lowest buckets are merged, which gives up accuracy
on the smallest values only: the high quantiles that latency reports care about keep
their guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["QuantileSketch"]


class QuantileSketch:
    """A streaming quantile estimator with relative error at most ``relative_accuracy``.

    ::

        sketch = QuantileSketch()          # 1% relative accuracy
        for seconds in durations:
            sketch.add(seconds)
        sketch.quantile(0.99)              # within 1% of the exact p99

    ``quantile(q)`` estimates the value of rank ``floor(q * (count - 1))`` (0-based) in
    sorted order, i.e. numpy's ``method="lower"``: the estimate ``v`` of a true value
    ``x`` satisfies ``|v - x| <= relative_accuracy * x`` (plus ``min_value`` for values
    in the zero bucket). ``quantile(0)`` and ``quantile(1)`` are the exact min and max.
    """

    __slots__ = (
        "_bins",
        "_gamma",
        "_inv_log_gamma",
        "_max_buckets",
        "_min_value",
        "_zeros",
        "count",
        "max",
        "min",
        "relative_accuracy",
        "sum",
    )

    def __init__(
        self,
        relative_accuracy: float = 0.01,
        *,
        min_value: float = 1e-9,
        max_buckets: int = 2048,
    ) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError(
                f"QuantileSketch(): relative_accuracy must be in (0, 1), got {relative_accuracy!r}"
            )
        if not min_value > 0.0 or math.isinf(min_value):
            raise ValueError(f"QuantileSketch(): min_value must be > 0, got {min_value!r}")
        if isinstance(max_buckets, bool) or not isinstance(max_buckets, int) or max_buckets < 2:
            raise ValueError(
                f"QuantileSketch(): max_buckets must be an int >= 2, got {max_buckets!r}"
            )
        self.relative_accuracy: float = float(relative_accuracy)
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._inv_log_gamma = 1.0 / math.log(self._gamma)
        self._min_value = float(min_value)
        self._max_buckets = max_buckets
        self._bins: dict[int, int] = {}
        self._zeros = 0
        self.count: int = 0
        self.sum: float = 0.0
        self.min: float = math.inf
        self.max: float = -math.inf

    # -- updating ------------------------------------------------------------------------

    def add(self, value: float) -> None:
        """Count one value (seconds, for durations)."""
        self.count += 1
        if value > self._min_value:
            self.sum += value
            if value > self.max:
                self.max = value
            if value < self.min:
                self.min = value
            key = math.ceil(math.log(value) * self._inv_log_gamma)
            bins = self._bins
            n = bins.get(key)
            if n is not None:
                bins[key] = n + 1
            else:
                bins[key] = 1
                if len(bins) > self._max_buckets:
                    self._collapse()
        else:
            if value < 0.0:
                value = 0.0
            self.sum += value
            self._zeros += 1
            if value > self.max:
                self.max = value
            if value < self.min:
                self.min = value

    def update(self, values: Iterable[float]) -> None:
        """Count every value of ``values``."""
        add = self.add
        for value in values:
            add(value)

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s values to this sketch (both must have the same accuracy)."""
        if other._gamma != self._gamma or other._min_value != self._min_value:
            raise ValueError(
                "QuantileSketch.merge(): sketches must have the same relative_accuracy "
                "and min_value"
            )
        bins = self._bins
        for key, n in other._bins.items():
            bins[key] = bins.get(key, 0) + n
        self._zeros += other._zeros
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if len(bins) > self._max_buckets:
            self._collapse()

    def _collapse(self) -> None:
        # Fold the lowest buckets into the lowest one kept: the small values lose accuracy,
        # the tail (p95, p99, max) keeps it.
        keys = sorted(self._bins)
        excess = len(keys) - self._max_buckets
        if excess <= 0:
            return
        keep = keys[excess]
        folded = sum(self._bins.pop(key) for key in keys[:excess])
        self._bins[keep] += folded

    # -- reading -------------------------------------------------------------------------

    @property
    def mean(self) -> float:
        """Exact mean of the values added (NaN when empty)."""
        return self.sum / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """Estimated ``q``-quantile, ``0 <= q <= 1`` (NaN when empty)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"QuantileSketch.quantile(): q must be in [0, 1], got {q!r}")
        if self.count == 0:
            return math.nan
        if q == 0.0:
            return self.min
        if q == 1.0:
            return self.max
        rank = math.floor(q * (self.count - 1))
        if rank < self._zeros:
            return self.min  # within [0, min_value]: report the smallest value seen
        seen = self._zeros
        for key in sorted(self._bins):
            seen += self._bins[key]
            if seen > rank:
                estimate = 2.0 * self._gamma**key / (self._gamma + 1.0)
                # Clamping can only move the estimate closer to the true value, which
                # lies in the same bucket and within [min, max].
                return min(max(estimate, self.min), self.max)
        return self.max  # pragma: no cover - the counts always reach rank

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Several quantiles at once (one pass over the buckets per call is fine too)."""
        return [self.quantile(q) for q in qs]

    @property
    def buckets(self) -> int:
        """Buckets in use (the sketch's memory, apart from a few numbers)."""
        return len(self._bins) + (1 if self._zeros else 0)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        if not self.count:
            return f"QuantileSketch(relative_accuracy={self.relative_accuracy}, empty)"
        return (
            f"QuantileSketch(count={self.count}, min={self.min:.6g}, "
            f"p50={self.quantile(0.5):.6g}, p99={self.quantile(0.99):.6g}, max={self.max:.6g})"
        )


# Defined here so the runner can time a run without importing ``anystream.observe``
# (issue 19's layering); the public home of the sketch is ``anystream.observe.quantiles``.
QuantileSketch.__module__ = "anystream.observe.quantiles"
