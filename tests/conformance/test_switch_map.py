"""switch_map against RxJS ``switchMap-spec.ts`` shapes, aiostream ``switchmap`` and Kotlin
``flatMapLatest``; frames of 1 s, both backends."""

from __future__ import annotations

import pytest

from anystream import switch_map

from ._marble import draw, expect, src

pytestmark = pytest.mark.anyio

CASES = [
    # rxjs switchMap-spec "should switch inner cold observables": the new outer item cancels
    # the running inner one.
    ("-a---b-----|", {"a": "--1-2-3|", "b": "--4-5|"}, "---1---4-5-|"),
    # issue 14 / rxjs tie: b arrives exactly when a's inner would emit 2: 2 is never emitted.
    ("a---b----|", {"a": "--1-2|", "b": "--3|"}, "--1---3--|"),
    # "should switch inner cold observables, outer is unsubscribed early" -> outer never ends
    ("-a---b-----", {"a": "--1-2-3|", "b": "--4-5|"}, "---1---4-5"),
    # "should switch inner cold observables, inner never completes"
    ("-a---b---|", {"a": "--1-2-3-", "b": "--4-5-"}, "---1---4-5"),
    # "should handle outer empty"
    ("|", {}, "|"),
    # "should handle outer never"
    ("-", {}, ""),
    # "should handle outer throw"
    ("#", {}, "#"),
    # "should raise error when projection throws"-like: an inner error ends the result
    ("-a---|", {"a": "--#"}, "---#"),
    # "should switch inner cold observables, outer throws"
    ("-a---b--#", {"a": "--1-2-3|", "b": "--4-5|"}, "---1---4#"),
    # the result ends only when the outer and the last inner have ended
    ("-a|", {"a": "---1|"}, "----1|"),
    # Kotlin flatMapLatest doc shape: a fast outer only lets the last inner finish
    ("abc|", {"a": "-1|", "b": "-2|", "c": "-3|"}, "---3|"),
]


@pytest.mark.parametrize(("outer", "inners", "expected"), CASES)
async def test_switch_map_marbles(outer: str, inners: dict[str, str], expected: str) -> None:
    stream = src(outer) | switch_map(lambda item: src(inners[item]))
    assert await draw(stream, until=40) == expect(expected)
