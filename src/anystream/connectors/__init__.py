"""Optional integrations with other libraries, one module per library.

Nothing here is imported by ``import anystream``: each connector imports its library
when the connector module itself is imported, so a missing optional dependency only
matters to code that asks for it (``pip install 'anystream[aiostream]'`` and so on).

- :mod:`anystream.connectors.aiostream`: aiostream streams in and out of pipelines
  (asyncio only, like aiostream itself).
"""
