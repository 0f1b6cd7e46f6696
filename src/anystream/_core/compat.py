"""``TypeVar`` with PEP 696 defaults: in ``typing`` from Python 3.13, else typing_extensions."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:
    from typing_extensions import TypeVar

__all__ = ["TypeVar"]
