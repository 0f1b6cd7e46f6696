"""The package namespace: every family's public names, re-exported lazily and cheaply."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import anystream

FAMILIES = [
    "aggregate",
    "combine",
    "create",
    "delivery",
    "errors",
    "exhaust",
    "extend",
    "flow",
    "latest",
    "offload",
    "recover",
    "select",
    "sequence",
    "time",
    "transform",
    "window",
]


def test_every_family_name_is_exported_from_the_right_module() -> None:
    for family in FAMILIES:
        module = importlib.import_module(f"anystream.ops.{family}")
        for name in getattr(module, "__all__", []):
            if family in ("delivery", "errors") and name in ("OnError",):
                continue
            assert name in anystream.__all__, f"{family}.{name} is not exported"
            assert getattr(anystream, name) is getattr(module, name)


def test_all_and_the_lazy_table_agree_and_resolve() -> None:
    assert sorted(anystream.__all__) == sorted(anystream._EXPORTS)
    for name in anystream.__all__:
        assert getattr(anystream, name) is not None
    assert set(anystream.__all__) <= set(dir(anystream))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        anystream.nope  # noqa: B018


def test_import_anystream_imports_no_operator_module_nor_optional_dependency() -> None:
    code = (
        "import sys, anystream; "
        "print(sorted(m for m in sys.modules if m.startswith(('anystream.', 'trio', "
        "'aiostream', 'coredis', 'rich', 'opentelemetry'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    # Only the stdlib-only hooks module through which the package wires the core to the
    # outer layers (issue 19: the core imports nothing from anystream.observe).
    assert out.strip() == "['anystream._core', 'anystream._core.hooks']"
