"""Unwrapping exception groups to what the user raised."""

from __future__ import annotations

import anyio
import pytest

from anystream._core.errors import add_operator_note, reraise_unwrapped, unwrap

pytestmark = pytest.mark.anyio


async def test_a_plain_exception_is_itself() -> None:
    exc = ValueError("x")
    assert unwrap(exc) is exc


async def test_nested_groups_of_one_unwrap_to_the_leaf() -> None:
    leaf = ValueError("x")
    group = BaseExceptionGroup("outer", [ExceptionGroup("inner", [leaf])])
    assert unwrap(group) is leaf


async def test_several_real_failures_stay_a_group() -> None:
    group = ExceptionGroup("g", [ValueError("a"), KeyError("b")])
    assert unwrap(group) is group


def test_add_operator_note_once_per_operator() -> None:
    exc = ValueError("x")
    add_operator_note(exc, "map(f)")
    add_operator_note(exc, "map(f)")
    add_operator_note(exc, "where(g)")
    assert exc.__notes__ == [
        "anystream: raised in operator map(f)",
        "anystream: raised in operator where(g)",
    ]


async def _a_real_cancellation() -> BaseException:
    caught: list[BaseException] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except anyio.get_cancelled_exc_class() as exc:
            caught.append(exc)
            raise
    return caught[0]


async def test_cancellations_are_ignored_when_looking_for_the_leaf() -> None:
    leaf = RuntimeError("real")
    group = BaseExceptionGroup("g", [await _a_real_cancellation(), leaf])
    assert unwrap(group) is leaf


async def test_only_cancellations_reraises_the_group_untouched() -> None:
    group = BaseExceptionGroup("g", [await _a_real_cancellation()])
    assert unwrap(group) is group


async def test_reraise_keeps_the_leaf_context() -> None:
    try:
        try:
            raise KeyError("original context")
        except KeyError:
            leaf = ValueError("leaf")
            raise leaf from None
    except ValueError:
        pass
    context = leaf.__context__
    assert isinstance(context, KeyError)
    with pytest.raises(ValueError, match="leaf") as info:
        try:
            raise ExceptionGroup("wrapper", [leaf])
        except ExceptionGroup as group:
            reraise_unwrapped(group)
    assert info.value is leaf
    assert info.value.__context__ is context
