"""Streaming quantiles in bounded memory, with a guaranteed relative error.

This is the public home of :class:`QuantileSketch`. It is defined in
``anystream._core.quantiles`` because the runner's ``timing=True`` keeps its figures in
it, and the core imports nothing from ``anystream.observe`` (issue 19's layering); the
full description (why a log-bucket sketch, its error bound and memory) is that module's
docstring, also available as this module's ``__doc__``.
"""

from __future__ import annotations

from .._core import quantiles as _impl
from .._core.quantiles import QuantileSketch

__doc__ = _impl.__doc__

__all__ = ["QuantileSketch"]
