"""The machinery behind :mod:`anystream.ops.window`, one job per module.

``model``: the :class:`Window` record and the aggregate shapes. ``config``: the argument
checks shared by the time windows. ``engines``: one run's window state (grid windows,
sessions), clock-agnostic. ``drivers``: the staged steps that feed an engine from event
time or from the clock, and the ``chunks`` loops.
"""
