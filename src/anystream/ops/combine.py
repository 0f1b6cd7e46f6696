"""Operators of the combine family (see the module docstrings of the other families)."""

from __future__ import annotations

__all__: list[str] = []
