"""pytest plugin: every anyio test on asyncio *and* trio, each on a fresh virtual clock.

Enabling it in your own project
-------------------------------
Load it next to anyio's plugin, e.g. in ``pyproject.toml``::

    [tool.pytest.ini_options]
    addopts = "-p anyio -p anystream.testing.pytest_plugin"

(or ``pytest -p anystream.testing.pytest_plugin``, or ``pytest_plugins =
["anystream.testing.pytest_plugin"]`` in the root ``conftest.py``), install trio
(``anystream[trio]``) and mark async tests with ``@pytest.mark.anyio`` as usual.

What you get
------------
* An ``anyio_backend`` fixture parametrised over exactly ``asyncio`` and ``trio``.  anyio's own
  fixture uses whatever backends happen to import, so a missing trio silently halves the
  suite; this one fails the trio tests with an error saying trio is missing.
* A fresh autojumping virtual clock per test: ``{"loop_factory": VirtualClockEventLoop}`` on
  asyncio, ``{"clock": trio.testing.MockClock(autojump_threshold=0), "instruments":
  [FifoScheduling()]}`` on trio.  On both, timers due at the same virtual instant fire in
  the order they were set, and tasks woken together run in the order they were woken
  (trio would otherwise shuffle them; see :mod:`anystream.testing._trio_clock`), so a
  marble test at an exact tie gives the same answer on every run and on both backends.
  (One exception on trio: several tasks waiting on *one* ``Event`` are woken in trio's
  own order.)  Sleeps and
  timeouts take no real time and fire at their exact virtual deadlines; virtual time starts
  at 0.0 (on trio under hypothesis, later examples continue from where the previous one
  stopped, so measure time relative to a start).
* ``@pytest.mark.real_clock`` (registered by the plugin) for tests that must see real time,
  typically those that wait on threads or subprocesses while a timeout is pending: they get
  ``{}`` options, i.e. asyncio's default loop and trio's system clock.
* A ``backend_name`` fixture (``"asyncio"`` or ``"trio"``) for the rare backend-specific check.

The fixture is function-scoped, unlike anyio's module-scoped default, because a clock shared
between tests would leak virtual time from one into the next.  (anyio keeps one test runner,
built from the first options it sees, for as long as any test or fixture holds it; with a
function-scoped fixture it is released after every test, so each test gets its new clock.)
The cost: async fixtures that use anyio must be function-scoped as well (pytest reports a
ScopeMismatch otherwise).

Load order matters: of two plugins defining ``anyio_backend`` pytest uses the one registered
last, so this plugin must come after anyio's.  It checks at configure time and stops with a
usage error rather than letting anyio's fixture silently take over.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from anystream.testing._asyncio_clock import BackendName, clock_backend_options, trio_missing

__all__ = ["anyio_backend", "backend_name"]

REAL_CLOCK_MARKER = "real_clock"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` needs no extra configuration), check order."""
    config.addinivalue_line(
        "markers",
        f"{REAL_CLOCK_MARKER}: run on the backends' real clocks instead of the virtual clock",
    )
    _check_plugin_order(config)


def _check_plugin_order(config: pytest.Config) -> None:
    """Refuse to run when anyio's own ``anyio_backend`` fixture would silently win over ours.

    Two plugins defining the same fixture: pytest uses the one registered *last*.  pytest loads
    ``-p`` plugins in command-line order and entry-point plugins (anyio's, when not named with
    ``-p``) after all of them, so ``-p anystream.testing.pytest_plugin`` alone, or before
    ``-p anyio``, leaves anyio's module-scoped, real-clock, any-available-backend fixture in
    charge: sleeps become real and a missing trio is skipped again, without any message.
    """
    this = sys.modules[__name__]
    plugins = [plugin for _, plugin in config.pluginmanager.list_name_plugin()]
    if this not in plugins:
        # Our fixtures were imported into a conftest instead, which outranks any plugin.
        return
    anyio_plugin = sys.modules.get("anyio.pytest_plugin")
    if anyio_plugin is None or anyio_plugin not in plugins:
        raise pytest.UsageError(
            f"{__name__} needs anyio's pytest plugin, which is not loaded; "
            f"use: -p anyio -p {__name__}"
        )
    if plugins.index(anyio_plugin) > plugins.index(this):
        raise pytest.UsageError(
            f"{__name__} is loaded before anyio's pytest plugin, so anyio's anyio_backend "
            f"fixture would silently replace it (real clocks, trio skipped if missing); "
            f"load anyio first: -p anyio -p {__name__}"
        )


def _require_trio() -> None:
    """Fail the test loudly if trio is missing, instead of letting the backend vanish."""
    problem = trio_missing()
    if problem is not None:
        pytest.fail(
            "anystream.testing.pytest_plugin runs every anyio test on trio as well as asyncio, "
            f"but trio cannot be imported ({problem}); install it, e.g. "
            "pip install 'anystream[trio]'",
            pytrace=False,
        )


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Return ``(backend name, backend options)`` with a fresh clock for this one test."""
    name: BackendName = request.param
    if name == "trio":
        _require_trio()
    real = request.node.get_closest_marker(REAL_CLOCK_MARKER) is not None
    return name, clock_backend_options(name, virtual_clock=not real)


@pytest.fixture
def backend_name(anyio_backend: tuple[str, dict[str, Any]]) -> str:
    """The name of the backend the current test runs on: ``"asyncio"`` or ``"trio"``."""
    return anyio_backend[0]
