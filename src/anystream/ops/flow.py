"""Flow control: ``buffered``, the explicit bounded boundary between two stages."""

from __future__ import annotations

from typing import Literal, TypeVar

from .._core.callables import check_choice, check_int
from .._core.operator import SameOperator, StagedStep, step_name

__all__ = ["buffered"]

T = TypeVar("T")

OverflowPolicy = Literal["block", "drop_oldest", "drop_newest", "latest"]
_POLICIES = ("block", "drop_oldest", "drop_newest", "latest")


def buffered(
    n: int, *, overflow: OverflowPolicy = "block", name: str | None = None
) -> SameOperator:
    """Decouple the operators before and after with a bounded buffer of ``n`` items.

    The upstream part of the pipeline runs in its own task and may run ahead of the
    downstream part by up to ``n`` items (plus the one item each side holds in hand).
    ``n=0`` is a direct hand-off: the upstream waits until downstream takes each item.

    What happens when the buffer is full:

    - ``"block"`` (default): the upstream waits (backpressure). Nothing is lost.
    - ``"drop_newest"``: the incoming item is discarded (needs ``n >= 1``).
    - ``"drop_oldest"``: the oldest buffered item is discarded (needs ``n >= 1``).
    - ``"latest"``: keep only the newest item (``n`` must be 1): a slow consumer always
      gets the most recent value.

    Discarded items are counted as ``dropped["overflow"]`` on this operator in the run's
    stats. Items in flight across the whole pipeline are bounded by the sum of all
    buffer sizes, plus one per stage, plus the concurrency of concurrent stages.
    """
    size = check_int("buffered", "n", n, minimum=0)
    policy = check_choice("buffered", "overflow", overflow, _POLICIES)
    if policy in ("drop_oldest", "drop_newest") and size < 1:
        raise ValueError(f"buffered(): overflow={policy!r} needs n >= 1, got {size}")
    if policy == "latest" and size != 1:
        raise ValueError(
            f"buffered(): overflow='latest' keeps exactly one item, so n must be 1, got {size} "
            "(use overflow='drop_oldest' to keep the newest n)"
        )
    name = step_name(
        "buffered",
        name,
        f"buffered({size})" if policy == "block" else f"buffered({size}, {policy})",
    )
    return SameOperator((StagedStep(name, None, capacity=size, overflow=policy),))  # type: ignore[arg-type]
