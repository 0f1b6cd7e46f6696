"""Shared test configuration.

Intentionally nearly empty: the ``anyio_backend`` fixture (asyncio and trio, each with a fresh
virtual clock, or the real clocks under ``@pytest.mark.real_clock``) comes from
:mod:`anystream.testing.pytest_plugin`, loaded with ``-p`` in ``pyproject.toml`` so that our
own suite uses exactly what users of anystream get.
"""
