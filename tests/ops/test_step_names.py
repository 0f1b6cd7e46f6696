"""``name=`` on every operator factory: the step shows as ``op(name)`` in stats keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

import anystream as a

# factory name -> the factory called with its required arguments and name="severity"
FACTORIES: dict[str, Callable[[str], a.Operator[Any, Any]]] = {
    "where": lambda n: a.where(bool, name=n),
    "filter": lambda n: a.filter(bool, name=n),
    "take": lambda n: a.take(5, name=n),
    "skip": lambda n: a.skip(0, name=n),
    "take_last": lambda n: a.take_last(5, name=n),
    "skip_last": lambda n: a.skip_last(0, name=n),
    "take_while": lambda n: a.take_while(bool, name=n),
    "drop_while": lambda n: a.drop_while(lambda x: False, name=n),
    "distinct_until_changed": lambda n: a.distinct_until_changed(name=n),
    "take_until": lambda n: a.take_until(anyio.Event(), name=n),
    "dedupe": lambda n: a.dedupe(max_keys=10, name=n),
    "buffered": lambda n: a.buffered(2, name=n),
    "debounce": lambda n: a.debounce(0.01, name=n),
    "throttle": lambda n: a.throttle(0.01, name=n),
    "sample": lambda n: a.sample(0.01, name=n),
    "timeout": lambda n: a.timeout(10.0, name=n),
    "delay": lambda n: a.delay(0.01, name=n),
    "rate_limit": lambda n: a.rate_limit(100, 1.0, name=n),
    "map": lambda n: a.map(str, name=n),
    "parse": lambda n: a.parse(int, name=n),
    "map_async": lambda n: a.map_async(_echo, name=n),
    "starmap": lambda n: a.starmap(lambda *x: x, name=n),
    "tap": lambda n: a.tap(print, name=n),
    "scan": lambda n: a.scan(lambda acc, x: x, name=n),
    "enumerate": lambda n: a.enumerate(name=n),
    "pairwise": lambda n: a.pairwise(name=n),
    "flat_map": lambda n: a.flat_map(lambda x: [x], name=n),
    "merge_map": lambda n: a.merge_map(lambda x: [x], 2, name=n),
    "switch_map": lambda n: a.switch_map(lambda x: [x], name=n),
    "chunks": lambda n: a.chunks(2, name=n),
    "tumbling_window": lambda n: a.tumbling_window(1.0, name=n),
    "sliding_window": lambda n: a.sliding_window(2.0, 1.0, name=n),
    "session_window": lambda n: a.session_window(1.0, name=n),
    "reduce": lambda n: a.reduce(lambda acc, x: x, name=n),
    "count": lambda n: a.count(name=n),
    "group_by": lambda n: a.group_by(lambda x: x, name=n),
    "merge_with": lambda n: a.merge_with(a.just(1), name=n),
    "concat_with": lambda n: a.concat_with(a.just(1), name=n),
    "zip_with": lambda n: a.zip_with(a.just(1), name=n),
    "map_thread": lambda n: a.map_thread(str, name=n),
    "map_process": lambda n: a.map_process(str, name=n),
    "start_with": lambda n: a.start_with(0, name=n),
    "end_with": lambda n: a.end_with(0, name=n),
    "default_if_empty": lambda n: a.default_if_empty(0, name=n),
    "slice": lambda n: a.slice(1, name=n),
    "item": lambda n: a.item(0, name=n),
    "cycle": lambda n: a.cycle(name=n),
    "with_latest_from": lambda n: a.with_latest_from(a.just(1), name=n),
    "exhaust_map": lambda n: a.exhaust_map(lambda x: [x], name=n),
}


async def _echo(x: object) -> object:
    return x


def test_every_operator_factory_is_covered() -> None:
    import inspect

    factories = {
        n
        for n in a.__all__
        if inspect.isfunction(getattr(a, n))
        and "name" in inspect.signature(getattr(a, n)).parameters
    }
    assert factories == set(FACTORIES)


@pytest.mark.parametrize("factory", sorted(FACTORIES))
def test_name_sets_the_step_name(factory: str) -> None:
    op = FACTORIES[factory]("severity")
    shown = "where" if factory == "filter" else factory  # filter is where under another name
    assert [step.name for step in op.steps] == [f"{shown}(severity)"]


@pytest.mark.anyio
@pytest.mark.parametrize("factory", ["where", "map", "take", "skip", "buffered", "map_async"])
async def test_stats_key_is_op_of_name(factory: str) -> None:
    s = a.from_iterable(["1", "2"]) | FACTORIES[factory]("severity")
    await s.collect()
    stats = s.stats()
    assert stats[f"{factory}(severity)"] is stats[factory]
    assert f"{factory}(severity)" in list(stats)


def test_name_must_be_a_non_empty_str() -> None:
    with pytest.raises(TypeError, match=r"where\(\): name must be a non-empty str"):
        a.where(bool, name="")
    with pytest.raises(TypeError, match=r"take\(\): name must be a non-empty str"):
        a.take(1, name=3)  # type: ignore[arg-type]
