"""The whole bad-input matrix (issue 21): every exported factory, every kind of wrong value.

Each factory in ``anystream._EXPORTS`` has rows here: for every argument, the wrong
values of its kind (negative, zero, float, bool, None, NaN, inf, a string; for callables
None, a non-callable, a coroutine function where a plain one is expected and the reverse,
generator and async generator functions; for streams a list, None, an async generator
object, an operator). Building with a wrong value must raise TypeError or ValueError
whose message names the operator (``name()``) and the argument, unless the case has a
documented meaning in ``MEANS``: then it runs on both backends, under a virtual-clock
timeout and a real-time watchdog, with an exact output. A case that is accepted without
a row in ``MEANS`` fails (nothing passes silently), and so does a new export with no rows:
factories without arguments are listed in ``NO_ARGUMENTS``, types in ``TYPES``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest
from _bad_input import VIRTUAL_TIMEOUT, watchdog

import anystream
import anystream.connectors.redis
import anystream.testing
from anystream import Stream, from_iterable, just

pytestmark = pytest.mark.anyio

A = anystream


async def coro_fn(x: Any, *rest: Any) -> Any:
    return x


async def agen_fn(x: Any = None, *rest: Any) -> AsyncIterator[Any]:
    yield x


def gen_fn(x: Any = None, *rest: Any) -> Iterator[Any]:
    yield x


def sync_fn(x: Any, *rest: Any) -> Any:
    return x


async def agen_object_source() -> AsyncIterator[int]:
    yield 1


NAN = math.nan
INF = math.inf

# Wrong values by kind of argument.
COUNT = {
    "neg": -1,
    "zero": 0,
    "float": 1.5,
    "bool": True,
    "none": None,
    "nan": NAN,
    "inf": INF,
    "str": "3",
}
SECONDS = {"neg": -1, "zero": 0, "bool": True, "none": None, "nan": NAN, "inf": INF, "str": "1"}
SYNC_FN = {"none": None, "int": 42, "async": coro_fn, "agen": agen_fn, "gen": gen_fn}
ANY_FN = {"none": None, "int": 42, "agen": agen_fn, "gen": gen_fn}
ASYNC_FN = {"none": None, "int": 42, "sync": sync_fn, "agen": agen_fn, "gen": gen_fn}
FLAG = {"str": "yes", "none": None, "int": 1}
STREAMS = {
    "list": [just(1)],
    "none": None,
    "agen-object": "AGEN_OBJECT",  # made fresh per case (see _value)
    "operator": "OPERATOR",
    "int": 3,
}

KINDS = {
    "count": COUNT,
    "seconds": SECONDS,
    "sync_fn": SYNC_FN,
    "any_fn": ANY_FN,
    "async_fn": ASYNC_FN,
    "flag": FLAG,
    "streams": STREAMS,
}

Slot = tuple[str, str, Callable[[Any], Any]]  # (argument, kind, build(value))

# For every factory: its arguments, each with a builder that passes the wrong value in
# that place and valid values elsewhere.
FACTORIES: dict[str, list[Slot]] = {
    "operator": [("fn", "async_fn", lambda v: A.operator(v))],
    "from_acked": [("items", "streams", lambda v: A.from_acked(v))],
    "retry": [("fn", "async_fn", lambda v: A.retry(v))],
    "count": [("name", "flag", lambda v: A.count(name=v))],
    "group_by": [
        ("key", "sync_fn", lambda v: A.group_by(v)),
        ("max_groups", "count", lambda v: A.group_by(sync_fn, max_groups=v)),
        ("buffer", "count", lambda v: A.group_by(sync_fn, buffer=v)),
    ],
    "reduce": [("fn", "any_fn", lambda v: A.reduce(v, 0))],
    "concat": [("streams", "streams", lambda v: A.concat(v))],
    "concat_with": [("others", "streams", lambda v: A.concat_with(v))],
    "merge": [("streams", "streams", lambda v: A.merge(v))],
    "merge_with": [("others", "streams", lambda v: A.merge_with(v))],
    "zip": [
        ("streams", "streams", lambda v: A.zip(v)),
        ("strict", "flag", lambda v: A.zip(just(1), strict=v)),
    ],
    "zip_latest": [
        ("streams", "streams", lambda v: A.zip_latest(v)),
        ("partial", "flag", lambda v: A.zip_latest(just(1), partial=v)),
    ],
    "zip_with": [
        ("others", "streams", lambda v: A.zip_with(v)),
        ("strict", "flag", lambda v: A.zip_with(just(1), strict=v)),
    ],
    "from_iterable": [("iterable", "streams", lambda v: A.from_iterable(v))],
    "from_lines": [("encoding", "flag", lambda v: A.from_lines("x.txt", encoding=v))],
    "from_receive_stream": [("stream", "streams", lambda v: A.from_receive_stream(v))],
    "interval": [("period", "seconds", lambda v: A.interval(v))],
    "range": [("args", "count", lambda v: A.range(v))],
    "repeat": [("times", "count", lambda v: A.repeat(1, v))],
    "timer": [("delay", "seconds", lambda v: A.timer(v))],
    "default_if_empty": [("name", "flag", lambda v: A.default_if_empty(0, name=v))],
    "end_with": [("name", "flag", lambda v: A.end_with(0, name=v))],
    "start_with": [("name", "flag", lambda v: A.start_with(0, name=v))],
    "throw": [("exc", "flag", lambda v: A.throw(v))],
    "cycle": [("max_items", "count", lambda v: A.cycle(max_items=v))],
    "catch": [
        ("stream", "streams", lambda v: A.catch(v, sync_fn)),
        ("handler", "sync_fn", lambda v: A.catch(just(1), v)),
    ],
    "exhaust_map": [("fn", "sync_fn", lambda v: A.exhaust_map(v))],
    "with_latest_from": [("other", "streams", lambda v: A.with_latest_from(v))],
    "on_error_resume": [
        ("stream", "streams", lambda v: A.on_error_resume(v, just(1))),
        ("fallback", "streams", lambda v: A.on_error_resume(just(1), v)),
    ],
    "retry_stream": [
        ("stream", "streams", lambda v: A.retry_stream(v, 2)),
        ("n", "count", lambda v: A.retry_stream(just(1), v)),
        ("backoff", "seconds", lambda v: A.retry_stream(just(1), 2, backoff=v)),
    ],
    "item": [("index", "count", lambda v: A.item(v))],
    "slice": [
        ("start", "count", lambda v: A.slice(v, 3)),
        ("stop", "count", lambda v: A.slice(0, v)),
        ("step", "count", lambda v: A.slice(0, 3, v)),
    ],
    "share": [
        ("stream", "streams", lambda v: A.share(v)),
        ("buffer", "count", lambda v: A.share(just(1), buffer=v)),
        ("on_slow", "flag", lambda v: A.share(just(1), on_slow=v)),
    ],
    "broadcast": [
        ("stream", "streams", lambda v: A.broadcast(v, 2)),
        ("n", "count", lambda v: A.broadcast(just(1), v)),
        ("buffer", "count", lambda v: A.broadcast(just(1), 2, buffer=v)),
        ("on_slow", "flag", lambda v: A.broadcast(just(1), 2, on_slow=v)),
    ],
    "buffered": [
        ("n", "count", lambda v: A.buffered(v)),
        ("overflow", "flag", lambda v: A.buffered(2, overflow=v)),
    ],
    "map_process": [
        ("fn", "sync_fn", lambda v: A.map_process(v)),
        ("workers", "count", lambda v: A.map_process(abs, workers=v)),
        ("ordered", "flag", lambda v: A.map_process(abs, ordered=v)),
    ],
    "map_thread": [
        ("fn", "sync_fn", lambda v: A.map_thread(v)),
        ("workers", "count", lambda v: A.map_thread(abs, workers=v)),
        ("ordered", "flag", lambda v: A.map_thread(abs, ordered=v)),
    ],
    "dedupe": [
        ("key", "sync_fn", lambda v: A.dedupe(v)),
        ("max_keys", "count", lambda v: A.dedupe(max_keys=v)),
        ("ttl", "seconds", lambda v: A.dedupe(ttl=v)),
    ],
    "distinct_until_changed": [("key", "sync_fn", lambda v: A.distinct_until_changed(v))],
    "drop_while": [("predicate", "any_fn", lambda v: A.drop_while(v))],
    "filter": [("predicate", "any_fn", lambda v: A.filter(v))],
    "where": [("predicate", "any_fn", lambda v: A.where(v))],
    "take_while": [("predicate", "any_fn", lambda v: A.take_while(v))],
    "skip": [("n", "count", lambda v: A.skip(v))],
    "skip_last": [("n", "count", lambda v: A.skip_last(v))],
    "take": [("n", "count", lambda v: A.take(v))],
    "take_last": [("n", "count", lambda v: A.take_last(v))],
    "take_until": [("trigger", "streams", lambda v: A.take_until(v))],
    "debounce": [("period", "seconds", lambda v: A.debounce(v))],
    "delay": [
        ("period", "seconds", lambda v: A.delay(v)),
        ("max_pending", "count", lambda v: A.delay(1, max_pending=v)),
    ],
    "rate_limit": [
        ("n", "count", lambda v: A.rate_limit(v, 1)),
        ("per", "seconds", lambda v: A.rate_limit(2, v)),
    ],
    "sample": [("period", "seconds", lambda v: A.sample(v))],
    "throttle": [
        ("period", "seconds", lambda v: A.throttle(v)),
        ("leading", "flag", lambda v: A.throttle(1, leading=v)),
    ],
    "timeout": [("per_item", "seconds", lambda v: A.timeout(v))],
    "enumerate": [("start", "count", lambda v: A.enumerate(v))],
    "flat_map": [("fn", "sync_fn", lambda v: A.flat_map(v))],
    "map": [("fn", "sync_fn", lambda v: A.map(v))],
    "map_async": [
        ("fn", "async_fn", lambda v: A.map_async(v)),
        ("concurrency", "count", lambda v: A.map_async(coro_fn, concurrency=v)),
        ("ordered", "flag", lambda v: A.map_async(coro_fn, ordered=v)),
    ],
    "merge_map": [
        ("fn", "sync_fn", lambda v: A.merge_map(v, 2)),
        ("concurrency", "count", lambda v: A.merge_map(sync_fn, v)),
    ],
    "parse": [("fn", "sync_fn", lambda v: A.parse(v))],
    "scan": [("fn", "any_fn", lambda v: A.scan(v, 0))],
    "starmap": [
        ("fn", "any_fn", lambda v: A.starmap(v)),
        ("concurrency", "count", lambda v: A.starmap(coro_fn, concurrency=v)),
    ],
    "switch_map": [("fn", "sync_fn", lambda v: A.switch_map(v))],
    "tap": [("fn", "any_fn", lambda v: A.tap(v))],
    "chunks": [
        ("n", "count", lambda v: A.chunks(v)),
        ("timeout", "seconds", lambda v: A.chunks(2, v)),
    ],
    "session_window": [
        ("gap", "seconds", lambda v: A.session_window(v)),
        ("key", "sync_fn", lambda v: A.session_window(1, key=v)),
    ],
    "sliding_window": [
        ("size", "seconds", lambda v: A.sliding_window(v, 1)),
        ("step", "seconds", lambda v: A.sliding_window(1, v)),
    ],
    "tumbling_window": [
        ("size", "seconds", lambda v: A.tumbling_window(v)),
        ("key", "sync_fn", lambda v: A.tumbling_window(1, key=v)),
    ],
}

# The factories of anystream.testing and of the connectors, keyed "module.name".
T = anystream.testing
R = anystream.connectors.redis
URL = "redis://127.0.0.1:1"  # never contacted: building must not connect
FACTORIES.update(
    {
        "testing.at": [("time", "seconds", lambda v: T.at(v, 1))],
        "testing.marbles": [("frame", "seconds", lambda v: T.marbles("-a-|", v))],
        "testing.record": [("stream", "streams", lambda v: T.record(v))],
        "testing.raise_": [("error", "flag", lambda v: T.raise_(v))],
        "connectors.redis.from_redis_stream": [
            ("streams", "flag", lambda v: R.from_redis_stream(URL, v, group="g", consumer="c")),
            (
                "batch",
                "count",
                lambda v: R.from_redis_stream(URL, "s", group="g", consumer="c", batch=v),
            ),
            (
                "block",
                "seconds",
                lambda v: R.from_redis_stream(URL, "s", group="g", consumer="c", block=v),
            ),
            (
                "claim_idle",
                "seconds",
                lambda v: R.from_redis_stream(URL, "s", group="g", consumer="c", claim_idle=v),
            ),
        ],
        "connectors.redis.to_redis_stream": [
            ("key", "sync_fn", lambda v: R.to_redis_stream(URL, "s", key=v)),
            ("batch", "count", lambda v: R.to_redis_stream(URL, "s", batch=v)),
            ("partitions", "count", lambda v: R.to_redis_stream(URL, "s", key=str, partitions=v)),
            ("maxlen", "count", lambda v: R.to_redis_stream(URL, "s", maxlen=v)),
        ],
        "connectors.redis.partition_for": [
            ("partitions", "count", lambda v: R.partition_for("k", v))
        ],
        "connectors.redis.partition_streams": [
            ("partitions", "count", lambda v: R.partition_streams("s", v))
        ],
    }
)
# Public callables of those modules that are not factories of wrong-valued arguments.
OTHER_CALLABLES = {
    "testing.end",  # no arguments
    "testing.hang",  # no arguments
    "testing.scripted",  # any value is an item: there is no wrong one
    "testing.raised_in",  # a predicate over an exception, for asserts
    "testing.run",  # anyio.run with a virtual clock
    "connectors.redis.stable_hash",  # any object is a key
}

# Exported factories that take no argument that could be wrong (``name=`` aside).
NO_ARGUMENTS = {"empty", "never", "pairwise", "just"}
# Exported types: constructed by the library, or checked by their own tests.
TYPES = {
    "Aborted",
    "Acked",
    "Chunked",
    "Shared",
    "Windowed",
    "ZippedWith",
    "DeadLetter",
    "DeadLetters",
    "Enumerated",
    "Group",
    "GroupLimitExceeded",
    "IdempotentSink",
    "OpStats",
    "Operator",
    "Paired",
    "Pipeable",
    "Retry",
    "Run",
    "RunStats",
    "SameOperator",
    "SeenKeys",
    "StatsSnapshot",
    "Stream",
    "Window",
}

# Which operator name the message carries, where the export is an alias.
SPELLED = {"filter": "where"}


def _value(v: Any) -> Any:
    if v == "AGEN_OBJECT":
        return agen_object_source()
    if v == "OPERATOR":
        return A.map(abs)
    return v


def cases() -> dict[str, tuple[str, str, Callable[[Any], Any], Any]]:
    out: dict[str, tuple[str, str, Callable[[Any], Any], Any]] = {}
    for factory, slots in FACTORIES.items():
        for arg, kind, build in slots:
            for label, value in KINDS[kind].items():
                out[f"{factory}-{arg}-{label}"] = (factory, arg, build, value)
    return out


CASES = cases()

# The word that names the argument in the message, where it is not the argument's name.
WORD = {
    **{
        f"{f}-{a}": "argument 1"
        for f, a in [
            ("concat", "streams"),
            ("concat_with", "others"),
            ("merge", "streams"),
            ("merge_with", "others"),
            ("zip", "streams"),
            ("zip_latest", "streams"),
            ("zip_with", "others"),
            ("with_latest_from", "other"),
        ]
    },
    "range-args": "stop",
    "operator-fn": "async generator function",
}


class Means:
    """Accepted with a documented meaning: ``run(built)`` collects ``expected``, shaped."""

    def __init__(
        self,
        expected: list[Any],
        run: Callable[[Any], Any] | None = None,
        shape: Callable[[Any], Any] = lambda x: x,
        *,
        items: tuple[Any, ...] = (1, 2, 3),
        ordered: bool = True,
    ) -> None:
        self.expected = expected
        self.run = run
        self.shape = shape
        self.items = items
        self.ordered = ordered

    def stream(self, built: Any) -> Any:
        if self.run is not None:
            return self.run(built)
        if isinstance(built, Stream):
            return built
        return from_iterable(list(self.items)) | built


class FailsAtRun:
    """Accepted when built (it cannot be told then); the run fails with ``error``."""

    def __init__(
        self, error: type[Exception], words: tuple[str, ...], run: Callable[[Any], Any] | None
    ) -> None:
        self.error = error
        self.words = words
        self.run = run

    def stream(self, built: Any) -> Any:
        if self.run is not None:
            return self.run(built)
        if isinstance(built, Stream):
            return built
        return from_iterable([1, 2, 3]) | built


class Documented:
    """Accepted with a documented meaning that needs a server to run: only built here."""

    def __init__(self, meaning: str) -> None:
        self.meaning = meaning


def _items(w: Any) -> Any:
    return w.items


NOT_AWAITABLE = ("not an awaitable",)
MEANS: dict[str, Means | FailsAtRun | Documented] = {
    # Zero, negative and None where they mean something.
    "buffered-n-zero": Means([1, 2, 3]),  # a hand-off with no room: a rendezvous
    "delay-period-zero": Means([1, 2, 3]),
    "skip-n-zero": Means([1, 2, 3]),
    "skip_last-n-zero": Means([1, 2, 3]),
    "take-n-zero": Means([]),
    "take_last-n-zero": Means([]),
    "slice-start-zero": Means([1, 2, 3]),
    "slice-stop-none": Means([1, 2, 3]),
    "slice-stop-zero": Means([]),
    "item-index-zero": Means([1]),
    "item-index-neg": Means([3]),  # from the end
    "enumerate-start-zero": Means([(0, 1), (1, 2), (2, 3)]),
    "enumerate-start-neg": Means([(-1, 1), (0, 2), (1, 3)]),
    "range-args-zero": Means([]),
    "range-args-neg": Means([]),  # like the builtin
    "repeat-times-zero": Means([]),
    "repeat-times-none": Means([1, 1, 1], lambda s: s | A.take(3)),  # for ever
    "cycle-max_items-none": Means(
        [1, 2, 3, 1, 2], lambda op: from_iterable([1, 2, 3]) | op | A.take(5)
    ),
    "timer-delay-zero": Means([0]),
    "retry_stream-n-zero": Means([1]),
    "retry_stream-backoff-zero": Means([1]),
    "chunks-timeout-none": Means([[1, 2], [3]]),  # no time limit
    "group_by-buffer-zero": Means(
        [1, 2, 3],
        lambda op: from_iterable([1, 2, 3]) | op | A.merge_map(lambda g: g, 3),
        ordered=False,
    ),
    "distinct_until_changed-key-none": Means([1, 2], items=(1, 1, 2)),  # items compared as they are
    "session_window-key-none": Means([[1, 2, 3]], shape=_items),  # one window for all items
    "tumbling_window-key-none": Means([[1, 2, 3]], shape=_items),
    # ``name=`` takes any string; None is the default name.
    **{
        f"{f}-name-{label}": Means(expected)
        for f, expected in [
            ("count", [3]),
            ("default_if_empty", [1, 2, 3]),
            ("end_with", [1, 2, 3, 0]),
            ("start_with", [0, 1, 2, 3]),
        ]
        for label in ("none", "str")
    },
    # Inner streams may be any (async) iterable, so (async) generator functions are right.
    **{
        f"{f}-fn-{label}": Means([1, 2, 3], ordered=f == "flat_map")
        for f in ("flat_map", "merge_map", "exhaust_map")
        for label in ("gen", "agen")
    },
    # switch_map follows the newest item only: a source that does not wait leaves the last.
    "switch_map-fn-gen": Means([3]),
    "switch_map-fn-agen": Means([3]),
    "catch-handler-gen": Means([1]),  # never called: the stream does not fail
    "catch-handler-agen": Means([1]),
    "operator-fn-agen": Means(
        [True], lambda factory: just(1) | factory(), lambda x: hasattr(x, "__anext__")
    ),
    # Iterables of anything are sources: the items are what they hold.
    "from_iterable-iterable-list": Means([True], shape=lambda x: isinstance(x, Stream)),
    "from_iterable-iterable-agen-object": Means([1]),
    # A callable that may return an awaitable cannot be told from a plain function when
    # it is built: the first call says.
    "map_async-fn-sync": FailsAtRun(TypeError, ("map_async()", *NOT_AWAITABLE), None),
    "retry-fn-sync": FailsAtRun(
        TypeError, ("retry()", *NOT_AWAITABLE), lambda f: from_iterable([1]) | A.map_async(f)
    ),
    "from_acked-items-agen-object": FailsAtRun(TypeError, ("from_acked", "Acked"), None),
}

MEANS.update(
    {
        "testing.at-time-zero": Means([1], lambda event: T.scripted(event)),
        # Redis connectors: the meaning is documented, but a run needs a server; here
        # only building is checked (tests/connectors runs these shapes against one).
        "connectors.redis.from_redis_stream-streams-str": Documented("a stream named 'yes'"),
        "connectors.redis.from_redis_stream-block-zero": Documented("reads without waiting"),
        "connectors.redis.to_redis_stream-key-none": Documented("the default: one stream"),
        "connectors.redis.to_redis_stream-maxlen-none": Documented("the default: no trim"),
    }
)

# The exceptions are rows too: a case must be refused or documented, never silently pass.
assert set(MEANS) <= set(CASES), sorted(set(MEANS) - set(CASES))


def test_every_export_has_rows() -> None:
    """A new export without rows fails here: add rows, or list it as argument-free or a type."""
    top = {name for name in FACTORIES if "." not in name}
    missing = set(A._EXPORTS) - top - NO_ARGUMENTS - TYPES
    assert not missing, f"exports without bad-input rows: {sorted(missing)}"
    stale = (top | NO_ARGUMENTS | TYPES) - set(A._EXPORTS)
    assert not stale, f"rows for names that are not exported: {sorted(stale)}"
    for name in TYPES:
        assert isinstance(getattr(A, name), type), name
    for name in (set(FACTORIES) | NO_ARGUMENTS) & set(A._EXPORTS):
        assert not isinstance(getattr(A, name), type), name


def test_every_testing_and_connector_factory_has_rows() -> None:
    found = {
        f"{prefix}.{name}"
        for prefix, module in (("testing", T), ("connectors.redis", R))
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")])
        if callable(getattr(module, name))
        and not isinstance(getattr(module, name), type)
        and getattr(getattr(module, name), "__module__", "").startswith("anystream")
    }
    missing = found - set(FACTORIES) - OTHER_CALLABLES
    assert not missing, f"factories without bad-input rows: {sorted(missing)}"


@pytest.mark.parametrize("case_id", list(CASES))
async def test_bad_input_matrix(case_id: str) -> None:
    factory, arg, build, value = CASES[case_id]
    meaning = MEANS.get(case_id)
    with watchdog():
        if meaning is None:
            with pytest.raises((TypeError, ValueError)) as info:
                build(_value(value))
            message = str(info.value)
            op = f"{SPELLED.get(factory, factory.rsplit('.', 1)[-1])}()"
            word = WORD.get(f"{factory}-{arg}", arg)
            assert op in message, f"{op!r} missing from {message!r}"
            assert word in message, f"{word!r} missing from {message!r}"
            return
        built = build(_value(value))
        if isinstance(meaning, Documented):
            assert built is not None, meaning.meaning
            return
        stream = meaning.stream(built)
        if isinstance(meaning, FailsAtRun):
            with anyio.fail_after(VIRTUAL_TIMEOUT), pytest.raises(Exception) as failed:  # noqa: PT011
                await stream.collect()
            error = failed.value
            while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                error = error.exceptions[0]
            assert isinstance(error, meaning.error), repr(failed.value)
            for word in meaning.words:
                assert word in str(error), f"{word!r} missing from {error}"
            return
        with anyio.fail_after(VIRTUAL_TIMEOUT):
            got = [meaning.shape(x) for x in await stream.collect()]
        if not meaning.ordered:
            got = sorted(got)
        assert got == meaning.expected
