"""QuantileSketch: the relative-error guarantee against exact quantiles, bounded memory."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream.observe import QuantileSketch

durations = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False),
    # Log-uniform over the range that matters for latencies (1 us .. 100 s).
    st.floats(min_value=-6, max_value=2).map(lambda e: 10.0**e),
)


def exact_lower_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def within(estimate: float, exact: float, accuracy: float, min_value: float = 1e-9) -> bool:
    # The guarantee, with a hair of slack for floating-point rounding at bucket edges.
    return abs(estimate - exact) <= accuracy * exact * (1 + 1e-9) + min_value


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(durations, min_size=1, max_size=400),
    q=st.floats(min_value=0.0, max_value=1.0),
    accuracy=st.sampled_from([0.001, 0.01, 0.05]),
)
def test_quantile_is_within_relative_accuracy(
    values: list[float], q: float, accuracy: float
) -> None:
    sketch = QuantileSketch(accuracy)
    sketch.update(values)
    exact = exact_lower_quantile(values, q)
    assert within(sketch.quantile(q), exact, accuracy)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(durations, min_size=1, max_size=200))
def test_exact_count_sum_min_max(values: list[float]) -> None:
    sketch = QuantileSketch()
    sketch.update(values)
    assert sketch.count == len(sketch) == len(values)
    assert sketch.min == min(values) == sketch.quantile(0.0)
    assert sketch.max == max(values) == sketch.quantile(1.0)
    assert math.isclose(sketch.sum, math.fsum(values), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(sketch.mean, math.fsum(values) / len(values), rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(durations, max_size=100),
    b=st.lists(durations, max_size=100),
    q=st.floats(min_value=0.0, max_value=1.0),
)
def test_merge_equals_sketch_of_concatenation(a: list[float], b: list[float], q: float) -> None:
    left, right, both = QuantileSketch(), QuantileSketch(), QuantileSketch()
    left.update(a)
    right.update(b)
    both.update(a + b)
    left.merge(right)
    assert left.count == both.count
    if both.count:
        assert left.quantile(q) == both.quantile(q)


def test_tail_quantiles_of_a_large_skewed_sample() -> None:
    rng = random.Random(42)
    values = [rng.lognormvariate(-7, 1.5) for _ in range(100_000)]
    sketch = QuantileSketch(0.01)
    sketch.update(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert within(sketch.quantile(q), exact_lower_quantile(values, q), 0.01)
    # Memory: a few hundred buckets for 100k values spread over ~6 decades.
    assert sketch.buckets < 1000


def test_memory_is_bounded_by_max_buckets_and_the_tail_keeps_its_accuracy() -> None:
    values = [10.0**e for e in (x / 100 for x in range(-900, 300))]  # 1 ns .. 1000 s
    sketch = QuantileSketch(0.01, max_buckets=200)
    sketch.update(values)
    assert sketch.buckets <= 200 + 1  # plus the zero bucket (1 ns is at min_value)
    for q in (0.9, 0.99):
        assert within(sketch.quantile(q), exact_lower_quantile(values, q), 0.01)


def test_zero_and_negative_values_count_as_zero() -> None:
    sketch = QuantileSketch()
    sketch.update([0.0, -1e-6, 0.0, 1.0])
    assert sketch.count == 4
    assert sketch.min == 0.0
    assert sketch.quantile(0.5) == 0.0
    assert sketch.max == 1.0


def test_empty_sketch() -> None:
    sketch = QuantileSketch()
    assert math.isnan(sketch.quantile(0.5))
    assert math.isnan(sketch.mean)
    assert "empty" in repr(sketch)


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(0.0)
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(1.0)
    with pytest.raises(ValueError, match="min_value"):
        QuantileSketch(min_value=0.0)
    with pytest.raises(ValueError, match="max_buckets"):
        QuantileSketch(max_buckets=1)
    with pytest.raises(ValueError, match="q must be in"):
        QuantileSketch().quantile(1.5)
    with pytest.raises(ValueError, match="same relative_accuracy"):
        QuantileSketch(0.01).merge(QuantileSketch(0.02))
