"""Building blocks for resilient pipelines: retrying with backoff, remembering seen keys.

`retry` / `Retry` retry transient failures of a coroutine function with capped exponential
backoff and jitter, never retrying cancellation; `SeenKeys` remembers recently seen event
ids in bounded memory so a sink can drop redelivered duplicates; `IdempotentSink` wraps a
write with it.
"""

from .keystore import SeenKeys as SeenKeys
from .retry import Retry as Retry
from .retry import RetryOptions as RetryOptions
from .retry import attempts_made as attempts_made
from .retry import retry as retry
from .sink import IdempotentSink as IdempotentSink

__all__ = ["IdempotentSink", "Retry", "RetryOptions", "SeenKeys", "attempts_made", "retry"]
