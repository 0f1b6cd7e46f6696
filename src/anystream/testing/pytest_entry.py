"""The ``pytest11`` entry point: inert unless a test suite opts in.

Installing anystream registers this module with pytest in every project of the
environment, so it must change nothing by itself: anyio's own ``anyio_backend`` fixture
stays in charge of suites that do not ask for ours. A suite opts in with one ini line::

    [tool.pytest.ini_options]
    anystream_backends = true

and then gets :mod:`anystream.testing.pytest_plugin` (every anyio test on asyncio *and*
trio, each on a fresh virtual clock) without any ``-p`` option. Loading the plugin
explicitly (``-p anyio -p anystream.testing.pytest_plugin``) keeps working; the plugin is
then not registered a second time.
"""

from __future__ import annotations

import pytest

__all__: list[str] = []

_PLUGIN = "anystream.testing.pytest_plugin"
_INI = "anystream_backends"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        type="bool",
        default=False,
        help="run every anyio test on asyncio and trio on anystream's virtual clocks",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.getini(_INI) or config.pluginmanager.has_plugin(_PLUGIN):
        return
    # Registered here, after every command-line and entry-point plugin (anyio's included),
    # so that our anyio_backend fixture is the one pytest uses.
    import anystream.testing.pytest_plugin as plugin

    config.pluginmanager.register(plugin, _PLUGIN)
