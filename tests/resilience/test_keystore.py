"""Tests for anystream.resilience.keystore.SeenKeys: bounds, the dedup guarantee, clocks.

The property tests compare SeenKeys with the guarantee written out literally over the whole
history of adds: a key is retained iff it was last added less than ttl ago and fewer than
max_keys distinct other keys were added since.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anystream.resilience import SeenKeys


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Guarantee:
    """The documented retention rule, evaluated from the full history (slow, obviously right)."""

    max_keys: int | None
    ttl: float | None
    history: list[tuple[int, float]] = field(default_factory=list)  # (key, time added)

    def retained(self, key: int, now: float) -> bool:
        last = max((i for i, (k, _) in enumerate(self.history) if k == key), default=None)
        if last is None:
            return False
        if self.ttl is not None and now - self.history[last][1] >= self.ttl:
            return False
        distinct_since = {k for k, _ in self.history[last + 1 :]}
        return self.max_keys is None or len(distinct_since) < self.max_keys


# --- behaviour ----------------------------------------------------------------------------


def test_add_reports_new_and_duplicate_keys() -> None:
    seen: SeenKeys[str] = SeenKeys(max_keys=10)
    assert seen.add("a") is True
    assert seen.add("b") is True
    assert seen.add("a") is False
    assert "a" in seen
    assert "c" not in seen
    assert len(seen) == 2
    assert seen.evicted == 0


def test_max_keys_evicts_the_least_recently_added() -> None:
    seen: SeenKeys[str] = SeenKeys(max_keys=3)
    for key in "abc":
        seen.add(key)
    assert seen.add("a") is False  # refreshes "a": now "b" is the oldest
    assert seen.add("d") is True
    assert "b" not in seen
    assert all(key in seen for key in "acd")
    assert len(seen) == 3
    assert seen.evicted == 1
    assert seen.add("b") is True  # forgotten, so new again


def test_lookup_does_not_refresh() -> None:
    seen: SeenKeys[str] = SeenKeys(max_keys=2)
    seen.add("a")
    seen.add("b")
    assert "a" in seen
    seen.add("c")
    assert "a" not in seen


def test_ttl_expires_keys_after_their_last_add() -> None:
    clock = FakeClock()
    seen: SeenKeys[str] = SeenKeys(ttl=10, clock=clock)
    seen.add("a")
    clock.now = 6
    assert seen.add("a") is False  # refreshed at t=6: lives until t=16
    seen.add("b")
    clock.now = 15.999
    assert "a" in seen
    assert len(seen) == 2
    clock.now = 16
    assert "a" not in seen  # exactly ttl later: expired
    assert len(seen) == 0
    assert seen.evicted == 2
    assert seen.add("a") is True


def test_ttl_only_memory_is_bounded_by_the_keys_of_one_ttl() -> None:
    clock = FakeClock()
    seen: SeenKeys[int] = SeenKeys(ttl=500, clock=clock)
    for i in range(10_000):
        clock.now = i  # one key per second, 500 per ttl
        assert seen.add(i)
        assert len(seen._keys) <= 500  # what is stored, not only what len() reports
    assert seen.evicted == 10_000 - 500


def test_both_bounds_apply() -> None:
    clock = FakeClock()
    seen: SeenKeys[int] = SeenKeys(max_keys=3, ttl=10, clock=clock)
    for i in range(5):
        seen.add(i)
    assert [i in seen for i in range(5)] == [False, False, True, True, True]
    clock.now = 10
    assert len(seen) == 0
    assert seen.evicted == 5


def test_discard_and_clear_forget_without_counting_evictions() -> None:
    seen: SeenKeys[str] = SeenKeys(max_keys=2)
    seen.add("a")
    seen.add("b")
    seen.discard("a")
    seen.discard("never-added")
    assert "a" not in seen
    assert seen.add("a") is True
    seen.clear()
    assert len(seen) == 0
    assert seen.add("b") is True
    assert seen.evicted == 0


def test_no_clock_is_read_without_ttl() -> None:
    def clock() -> float:
        raise AssertionError("the clock must not be read without ttl")

    seen: SeenKeys[str] = SeenKeys(max_keys=2, clock=clock)
    seen.add("a")
    assert "a" in seen
    assert len(seen) == 1


def test_outside_an_event_loop_the_default_clock_is_time_monotonic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(now=1000)
    monkeypatch.setattr(time, "monotonic", clock)
    seen: SeenKeys[str] = SeenKeys(ttl=1)
    seen.add("a")
    clock.now = 1000.5
    assert "a" in seen
    clock.now = 1001
    assert "a" not in seen


@pytest.mark.anyio
async def test_inside_an_event_loop_the_default_clock_is_anyios() -> None:
    # On the virtual clock time.monotonic() barely moves: only anyio's clock expires "a".
    seen: SeenKeys[str] = SeenKeys(ttl=5)
    seen.add("a")
    await anyio.sleep(4.5)
    assert "a" in seen
    assert seen.add("b")
    await anyio.sleep(0.5)
    assert "a" not in seen
    assert "b" in seen
    await anyio.sleep(4.5)
    assert len(seen) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "max_keys, ttl or both"),
        ({"max_keys": 0}, ValueError, "^max_keys "),
        ({"max_keys": 2.5}, TypeError, "^max_keys "),
        ({"max_keys": True}, TypeError, "^max_keys "),
        ({"ttl": 0}, ValueError, "^ttl "),
        ({"ttl": -1}, ValueError, "^ttl "),
        ({"ttl": math.inf}, ValueError, "^ttl "),
        ({"ttl": math.nan}, ValueError, "^ttl "),
        ({"ttl": "5"}, TypeError, "^ttl "),
        ({"ttl": 5, "clock": 3.0}, TypeError, "^clock "),
    ],
)
def test_bad_arguments_name_themselves(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SeenKeys(**kwargs)


# --- properties ---------------------------------------------------------------------------

operations = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 3)),  # (key, clock step before the add)
    max_size=200,
)


@given(
    max_keys=st.one_of(st.none(), st.integers(1, 8)),
    ttl=st.one_of(st.none(), st.integers(1, 10)),
    ops=operations,
)
def test_add_is_false_exactly_for_retained_keys_and_bounds_hold(
    max_keys: int | None, ttl: int | None, ops: list[tuple[int, int]]
) -> None:
    if max_keys is None and ttl is None:
        max_keys = 4
    clock = FakeClock()
    seen: SeenKeys[int] = SeenKeys(max_keys=max_keys, ttl=ttl, clock=clock)
    guarantee = Guarantee(max_keys, ttl)
    added_new = 0
    for key, step in ops:
        clock.now += step
        retained = guarantee.retained(key, clock.now)
        assert (key in seen) is retained
        is_new = seen.add(key)
        assert is_new is not retained
        added_new += is_new
        guarantee.history.append((key, clock.now))
        stored = len(seen._keys)
        if max_keys is not None:
            assert stored <= max_keys
        if ttl is not None:  # nothing stored beyond the keys added within the last ttl
            assert stored <= len({k for k, t in guarantee.history if clock.now - t < ttl})
        live = [k for k in range(13) if guarantee.retained(k, clock.now)]
        assert len(seen) == len(live)
        assert [k in seen for k in range(13)] == [k in live for k in range(13)]
        assert added_new == len(seen) + seen.evicted  # every new key is retained or counted
