"""Fusion: compile a run of per-item kernels into one loop.

A chain of ``map | where | parse | map`` written as async generators costs a generator
frame switch per operator per item; that overhead, not the user's functions, dominates
a cheap per-item pipeline (docs/concepts.md). The runner instead generates, once per
*shape* of chain, the loop a person would write by hand::

    async def seg(src, out, cnt, st, close_upstream):
        anext = src.__anext__
        while True:
            if st.stopping: break
            st.pulling = True
            try:
                x = await anext()
            except StopAsyncIteration:
                break
            st.pulling = False
            cnt[0] += 1
            try:
                x = k0(x)                      # parse
            except MALFORMED:
                cnt[4] += 1
                continue
            ...
            cnt[2] += 1
            yield x

The functions (``k0``...) and arguments are closure variables, so one compiled shape
serves every stream with the same sequence of kernel kinds; shapes are cached.

Generated source is unusual in a library, so the rules are kept narrow: only the
templates in this module are ever compiled, user values are never formatted into code
(they are passed as closure variables), and each template line reads like the
hand-written loop above, so a traceback through ``<anystream fused ...>`` is easy to
follow. Every call into user code is wrapped so that its exception gets a note naming the
operator; on CPython 3.11+ a ``try`` block costs nothing until it raises.

Inputs and outputs of a fused loop:

- input ``"aiter"``: an async iterator (the source, or a generator operator before it);
- input ``"iter"``: a sync iterator: no ``await`` per item at all, with a checkpoint
  every ``CHECKPOINT_EVERY`` items so a long list cannot starve the event loop or
  ignore cancellation;
- input ``"stream"``: a memory object receive stream, read with ``receive_nowait()``
  while it has data and ``await receive()`` only when it is empty: the fast hand-off;
- output ``"yield"``: an async generator (feeding a generator operator or the consumer);
- output ``"send"``: a memory object send stream, ``send_nowait()`` while there is
  room, ``await send()`` only when full;
- output ``"put"``: any ``async def put(item)`` (the overflow policies of ``buffered``);
- output ``"list"``: ``list.append``, for ``collect()`` of a pipeline with no staged
  operator: the whole run is one loop with no hand-off at all.

Counters: ``cnt`` is one list per fused loop; slot ``i`` counts items entering kernel
``i``, slot ``m`` (the number of kernels) items leaving the loop, and slot ``m + 1 + i``
items kernel ``i`` dropped. See ``stats.py``. A loop with no per-item ``await`` (sync or
stream input, send or list output, no async kernel) counts in local variables and writes
them to ``cnt`` before every ``await`` and when it ends: other tasks can only read the
counters while the loop is suspended, so they always see exact figures, at a third of
the cost of a list increment per item. (Code called *by* the loop, e.g. a kernel reading
``run.stats()``, sees the figures as of the loop's last wait.)

Parking: while items flow in batches, a stream-fed loop that finds its input empty, or
a loop whose output is full, first yields once with ``checkpoint()`` and tries again,
and only then parks in ``receive()`` / ``send()``. The peer it needs has usually been
woken already and runs during that one yield (it was woken by this loop's own
hand-offs), so the retry succeeds; a park proper costs a second scheduler pass plus an
Event and its wake-up. On trio that saved a tenth of the hand-off cost (four ``map |
buffered(50)`` hops: 0.84 -> 0.75 us per item); asyncio is unchanged (its FIFO run queue
already ran the peer during ``receive()``'s own leading checkpoint). When items trickle
(one per wake-up) the yield never helps and would cost a pass per item, so each side
stays *patient* only while its last park ended with more than one item to move: more
input already waiting, or more than one free place. Cancellation is delivered at the
checkpoint exactly as at ``receive()``/``send()``'s own.

Room: a loop that sends keeps ``room``, the places it may fill in its output buffer
without asking anyone, and appends while it is non-zero. Only another task can take
items, park as a receiver or close the receiving side, and other tasks run only while
this loop waits, so ``room`` is recomputed after every ``await`` (and after a slow-path
``send_nowait()``, which may have woken a receiver) instead of checking the buffer's
length, the parked receivers and the open receivers for every item (-7% on four hops).

Batches: a stream-fed loop with no per-item await takes everything its input buffer
holds in one C call (``[*bi]``, then ``clear()``) and runs the kernels over that list,
instead of testing and popping the deque once per item. Nothing else runs until the
loop awaits, so no other task can tell the difference, with one exception that the
loop handles: before any await in the middle of a batch (a full output, a filter whose
result turns out to be awaitable) it puts what it has not handled back at the front of
its input. Every other task therefore sees the buffers, the counters and the memory
bound exactly as with one item at a time. A pass-through loop into a list (``collect()``
after a staged operator) extends the list by the whole batch. A sync source feeding a
buffer with no kernel between fills the rest of its room with one ``deque.extend()``
over ``islice``, still bounded by the checkpoint tick. Together with the asyncio
checkpoint in ``_backends.py``: four ``buffered(50)`` hops 1.68 -> 1.52 us per item on
asyncio, 2.00 -> 1.92 on trio.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from itertools import islice
from types import AsyncGeneratorType
from typing import Any, Literal

from anyio import CancelScope, EndOfStream, WouldBlock

from ._backends import native_checkpoint
from .callables import refuse_async_gen_result, refuse_unawaited
from .errors import add_operator_note
from .handoff import receive_fast_path, send_fast_path
from .operator import Kernel

__all__ = ["CHECKPOINT_EVERY", "MALFORMED", "FusedShape", "compile_kernels"]

Input = Literal["aiter", "iter", "stream"]
Output = Literal["yield", "send", "put", "list"]

#: Exceptions that make ``parse`` treat an input as malformed.
MALFORMED = (ValueError, TypeError, KeyError, IndexError)

#: A sync source yields to the event loop after this many items.
CHECKPOINT_EVERY = 128

FusedShape = tuple[tuple[str, ...], Input, Output, bool]

_MISSING = object()

# Free places in the output buffer that the loop may fill without asking anyone: none
# while a receiver is parked (it must be handed the item and woken) or once every
# receiver has gone (send_nowait() raises BrokenResourceError for that).
ROOM = "room = 0 if wr or not so.open_receive_channels else cap - len(bo)"
# Before an await in the middle of a batch (see "Batches"): the items not handled yet go
# back to the front of the input, and the batch's iterator is left exhausted.
PUT_BACK = "bi.extendleft(reversed([*it]))"
_cache: dict[tuple[tuple[str, ...], str, str, bool], Callable[..., Any]] = {}


class _Code:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _call_user(code: _Code, depth: int, i: int, expr: str, extra: Sequence[str] = ()) -> None:
    """Emit ``expr`` wrapped so that an exception gets a note naming kernel ``i``."""
    code(depth, "try:")
    code(depth + 1, expr)
    for line in extra:
        code(depth + 1, line)
    code(depth, "except Exception as e:")
    code(depth + 1, f"note(e, name{i})")
    code(depth + 1, "raise")


def _generate(shape: tuple[tuple[str, ...], str, str, bool]) -> str:
    kinds, source, output, stoppable = shape
    m = len(kinds)
    slots = 2 * m + 1
    has_take = "take" in kinds
    # Local counters (see "Counters" in the module docstring): only when the loop never
    # awaits per item, so that publishing them before each await is rare. With a
    # per-item await (an async source, an async kernel, a yield to the consumer) the
    # list is updated in place as before.
    local = (
        source in ("iter", "stream")
        and output in ("send", "list")
        and not ({"amap", "afilter"} & set(kinds))
    )

    # Batches (see "Batches" in the module docstring): a stream-fed loop that never
    # awaits per item takes everything its input holds at once and iterates a list.
    batch = local and source == "stream"
    # A sync source straight into a buffer (``from_iterable(xs) | buffered(n)``): after
    # the item in hand, fill the rest of the room from the iterator in one call.
    bulk = not kinds and source == "iter" and output == "send"
    # A stoppable sync source yielding to the consumer checks the stop *before* each
    # pull (a ``for`` loop could only check after it, losing the item it pulled).
    pull_checked = stoppable and source == "iter" and output == "yield"

    def slot(j: int) -> str:
        return f"c{j}" if local else f"cnt[{j}]"

    flush = "; ".join(f"cnt[{j}] = c{j}" for j in range(slots))

    def publish(depth: int) -> None:
        # Before every await: the only moments another task can read the counters.
        if local:
            code(depth, flush)

    def put_back(depth: int) -> None:
        # Before an await inside a batch: what this loop took but has not handled goes
        # back to the front of its input, so that every other task sees the buffer (and
        # the memory bound) exactly as if the loop took one item at a time. The batch's
        # iterator is then exhausted: the loop takes its input afresh after this item.
        if batch:
            code(depth, PUT_BACK)

    def refresh(depth: int) -> None:
        # After every await (and a slow-path send): the only moments the output's other
        # side can have changed. See "Room" in the module docstring.
        if output == "send":
            code(depth, ROOM)

    def first_result(depth: int, i: int) -> None:
        # The first result of a plain function, once per run: a coroutine or an async
        # generator object would be passed on unawaited (a lambda calling a coroutine
        # function cannot be told from a plain one when the operator is built). After
        # the first item this is one test of a local flag. A ``map`` kernel uses a
        # stand-in function instead (see the prologue); ``parse`` cannot, because the
        # TypeError raised by the check would be taken for a malformed input.
        code(depth, f"if f{i}:")
        code(depth + 1, f"f{i} = False")
        code(depth + 1, f"first(n{i}, name{i}, x)")

    code = _Code()
    code(0, "def factory(fns, args, names, note, WouldBlock, EndOfStream, checkpoint,")
    code(0, "            isawaitable, MALFORMED, MISSING, K, rx_fast, tx_fast, shield, ONCE,")
    code(0, "            first, pred, AGEN):")
    for i in range(m):
        code(1, f"k{i} = fns[{i}]; n{i} = args[{i}]; name{i} = names[{i}]")
        if kinds[i] == "map":
            # The first result of a run is checked (see first_result) by a stand-in that
            # puts the function itself back once it has passed: no cost per item after.
            code(1, f"def once{i}(x, f=k{i}):")
            code(2, f"nonlocal k{i}")
            code(2, "x = f(x)")
            code(2, f"first(n{i}, name{i}, x)")
            code(2, f"k{i} = f")
            code(2, "return x")
            code(1, f"k{i} = once{i}")
    code(1, "async def seg(src, out, cnt, st, close_upstream):")
    d = 2
    # -- prologue ---------------------------------------------------------------------
    if source == "aiter":
        code(d, "anext = src.__anext__")
    elif source == "iter":
        code(d, "tick = 0")
        if bulk:  # one iterator for the loop and for the bulk pulls
            code(d, "src = iter(src)")
        if has_take or pull_checked:
            code(d, "nx = iter(src).__next__")
    else:
        code(d, "rn = src.receive_nowait; rv = src.receive")
        code(d, "bi, ws = rx_fast(src)")
        code(d, "rp = True  # patient: yield once before parking (see Parking)")
    if output == "send":
        code(d, "sn = out.send_nowait; sd = out.send")
        code(d, "so, bo, wr, cap = tx_fast(out)")
        code(d, "sp = True  # patient: yield once before parking (see Parking)")
        refresh(d)
    elif output == "list":
        code(d, "ap = out.append; ex = out.extend")
    for i, kind in enumerate(kinds):
        if kind == "parse":
            code(d, f"f{i} = True  # first result not checked yet")
    if has_take:
        code(d, "done = False")
        for i, kind in enumerate(kinds):
            if kind == "take":
                code(d, f"t{i} = 0")
                code(d, f"if n{i} <= 0: done = True")
    if local:
        code(d, "; ".join(f"c{j} = cnt[{j}]" for j in range(slots)))
        code(d, "try:")
        d += 1
    body_depth = d
    # -- loop header: obtain x --------------------------------------------------------
    loop = "while not done:" if has_take else "while True:"

    def tick_checkpoint(depth: int) -> None:
        code(depth, "tick += 1")
        code(depth, "if tick >= K:")
        code(depth + 1, "tick = 0")
        publish(depth + 1)
        if stoppable:
            code(depth + 1, "st.pulling = True")
        code(depth + 1, "await checkpoint()")
        if stoppable:
            code(depth + 1, "st.pulling = False")
        refresh(depth + 1)

    if source == "iter" and not has_take and not pull_checked:
        code(d, "for x in src:")
        d += 1
        tick_checkpoint(d)
    elif source == "iter":
        code(d, loop)
        d += 1
        if stoppable:
            code(d, "if st.stopping: break")
        code(d, "try:")
        code(d + 1, "x = nx()")
        code(d, "except StopIteration:")
        code(d + 1, "break")
        tick_checkpoint(d)
    elif source == "aiter":
        code(d, loop)
        d += 1
        if stoppable:
            code(d, "if st.stopping: break")
            code(d, "st.pulling = True")
        code(d, "try:")
        code(d + 1, "x = await anext()")
        code(d, "except StopAsyncIteration:")
        code(d + 1, "break")
        if stoppable:
            code(d, "st.pulling = False")
        refresh(d)
    else:
        code(d, loop)
        d += 1
        # Fast path: take straight from the buffer when it has data and no sender is
        # parked (a parked sender must be moved into the buffer and woken, which
        # receive_nowait() does).

        def receive_nowait(depth: int) -> None:
            code(depth, "try:")
            code(depth + 1, "x = rn()")
            code(depth, "except WouldBlock:")
            code(depth + 1, "x = MISSING")
            code(depth, "except EndOfStream:")
            code(depth + 1, "break")

        code(d, "if bi and not ws:")
        if batch and not kinds and output == "list":
            # Nothing to apply (collect() after a staged operator): the list takes the
            # whole batch at once.
            code(d + 1, f"{slot(0)} += len(bi); ex(bi); bi.clear()")
            code(d + 1, "continue")
        elif batch:
            code(d + 1, "it = iter([*bi]); bi.clear()")
        else:
            code(d + 1, "x = bi.popleft()")
        code(d, "else:")
        receive_nowait(d + 1)
        code(d + 1, "if x is MISSING:")
        # Empty: let the producer run once before parking, while items come in
        # batches (see "Parking" above).
        publish(d + 2)
        code(d + 2, "if rp:")
        code(d + 3, "await checkpoint()")
        receive_nowait(d + 3)
        code(d + 2, "if x is MISSING:")
        code(d + 3, "try:")
        code(d + 4, "x = await rv()")
        code(d + 3, "except EndOfStream:")
        code(d + 4, "break")
        code(d + 3, "rp = bool(bi)")
        refresh(d + 2)
        if batch:
            code(d + 1, "it = iter((x,))")

    def emit_body(d: int, more: bool = False) -> None:
        """The kernels and the output for one item ``x``, at depth ``d``.

        ``more``: a bulk-filling loop may pull further items after this one.
        """
        # -- kernels ----------------------------------------------------------------------
        for i, kind in enumerate(kinds):
            drop = m + 1 + i
            code(d, f"{slot(i)} += 1")
            if kind == "map":
                _call_user(code, d, i, f"x = k{i}(x)")
            elif kind == "amap":
                _call_user(code, d, i, f"x = await k{i}(x)")
                refresh(d)
            elif kind == "filter":
                # A result other than True/False (rare on hot paths) is awaited when it is
                # awaitable; an async generator object (always truthy) is refused.
                extra = ["if r is not True and r is not False:", "    if isawaitable(r):"]
                if local:
                    extra.append("        " + flush)
                if batch:
                    extra.append("        " + PUT_BACK)
                extra.append("        r = await r")
                if output == "send":
                    extra.append("        " + ROOM)
                extra.append("    elif type(r) is AGEN:")
                extra.append(f"        pred(n{i}, name{i}, r)")
                _call_user(code, d, i, f"r = k{i}(x)", extra)
                code(d, "if not r:")
                code(d + 1, f"{slot(drop)} += 1")
                code(d + 1, "continue")
            elif kind == "afilter":
                _call_user(code, d, i, f"r = await k{i}(x)")
                refresh(d)
                code(d, "if not r:")
                code(d + 1, f"{slot(drop)} += 1")
                code(d + 1, "continue")
            elif kind == "parse":
                code(d, "try:")
                code(d + 1, f"x = k{i}(x)")
                code(d, "except MALFORMED:")
                code(d + 1, f"{slot(drop)} += 1")
                code(d + 1, "continue")
                code(d, "except Exception as e:")
                code(d + 1, f"note(e, name{i})")
                code(d + 1, "raise")
                first_result(d, i)
            elif kind == "take":
                code(d, f"t{i} += 1")
                code(d, f"if t{i} >= n{i}: done = True")
            else:  # pragma: no cover - guarded by Kernel's constructor callers
                raise AssertionError(f"unknown kernel kind {kind!r}")
        # -- output -----------------------------------------------------------------------
        code(d, f"{slot(m)} += 1")
        if output == "yield":
            code(d, "yield x")
        elif output == "list":
            code(d, "ap(x)")
        elif output == "put":
            code(d, "await out(x)")
        else:
            # Fast path: append to the buffer while there is room and no receiver is
            # parked (a parked receiver must be handed the item and woken: send_nowait()
            # does). ``room`` is recomputed only when that can have changed.
            code(d, "if room:")
            code(d + 1, "room -= 1")
            code(d + 1, "bo.append(x)")
            if more:
                # No await until the next item: nothing else runs, so the room and the
                # stop flag cannot change; the tick still bounds the run of items
                # between two checkpoints. The counter is right even if the iterator
                # raises half way, because what it yielded is already in the buffer.
                code(d + 1, "k = K - tick")
                code(d + 1, "if room < k: k = room")
                code(d + 1, "if k > 0:")
                code(d + 2, "n = len(bo)")
                code(d + 2, "try:")
                code(d + 3, "bo.extend(islice(src, k))")
                code(d + 2, "finally:")
                code(d + 3, f"n = len(bo) - n; {slot(m)} += n; room -= n; tick += n")
            code(d + 1, "continue")
            code(d, "try:")
            code(d + 1, "sn(x)")
            code(d, "except WouldBlock:")
            code(d + 1, "pass")
            code(d, "else:")
            refresh(d + 1)
            code(d + 1, "continue")
            # Full: let the consumer run once before parking, while it takes items in
            # batches (see "Parking" above).
            publish(d)
            put_back(d)

            def park(depth: int) -> None:
                code(depth, "await sd(x)")
                refresh(depth)
                code(depth, "sp = room > 0")

            code(d, "if sp:")
            code(d + 1, "await checkpoint()")
            code(d + 1, "try:")
            code(d + 2, "sn(x)")
            code(d + 1, "except WouldBlock:")
            park(d + 2)
            code(d + 1, "else:")
            refresh(d + 2)
            code(d, "else:")
            park(d + 1)  # send_nowait() failed just above: no point asking again
            if source == "iter":
                # send() always checkpoints: the tick can start again.
                code(d, "tick = 0")

    shielded = stoppable and output != "yield" and source in ("iter", "aiter")
    if shielded:
        # A stop cancels this task's source scope while it waits in the source; anyio
        # delivers that cancellation at the task's next wait, so when the source had
        # already produced ``x`` it would land on the hand-off below and lose ``x``.
        # After a stop, finish the item in hand shielded, then stop (shutdown.py).
        code(d, "if st.stopping:")
        code(d + 1, "with shield():")
        # A one-pass loop: the body's ``continue`` (a drop) must end this item, not pull
        # the next one.
        code(d + 2, "for _ in ONCE:")
        emit_body(d + 3)
        code(d + 1, "break")
    if batch:
        code(d, "for x in it:")
        d += 1
        if has_take:
            # take() was satisfied by the item before: the rest of the batch is not read.
            code(d, "if done: break")
    emit_body(d, more=bulk)
    if has_take:
        # take() is satisfied: close the upstream now, not when the run ends.
        d = body_depth
        code(d, "if done:")
        if source == "stream":
            code(d + 1, "src.close()")
        else:
            publish(d + 1)
            code(d + 1, "await close_upstream()")
    if local:
        code(body_depth - 1, "finally:")
        code(body_depth, flush)
    code(1, "return seg")
    return "\n".join(code.lines) + "\n"


def _factory(shape: tuple[tuple[str, ...], str, str, bool]) -> Callable[..., Any]:
    factory = _cache.get(shape)
    if factory is None:
        source = _generate(shape)
        kinds, inp, out, _ = shape
        filename = f"<anystream fused {'|'.join(kinds) or 'pass'} {inp}->{out}>"
        namespace: dict[str, Any] = {"islice": islice}
        exec(compile(source, filename, "exec"), namespace)
        factory = namespace["factory"]
        factory.__anystream_source__ = source  # for debugging: print(factory.__anystream_source__)
        _cache[shape] = factory
    return factory


def _shield() -> CancelScope:
    return CancelScope(shield=True)


_ONCE = (None,)


def compile_kernels(
    kernels: Sequence[Kernel], source: str, output: str, *, stoppable: bool = False
) -> Callable[..., Any]:
    """Return ``seg(src, out, cnt, st, close_upstream)`` running ``kernels``.

    ``seg`` is an async generator function for output ``"yield"`` and a coroutine
    function otherwise. ``cnt`` must be a list of ``2 * len(kernels) + 1`` ints;
    ``st`` the run's :class:`StopState`; ``close_upstream`` an ``async`` callable that
    closes everything upstream of an iterator input, called when a ``take`` is done.
    """
    if source not in ("aiter", "iter", "stream") or output not in ("yield", "send", "put", "list"):
        raise ValueError(f"no fused loop from {source!r} to {output!r}")
    shape = (tuple(k.kind for k in kernels), source, output, stoppable)
    return _factory(shape)(  # type: ignore[no-any-return]
        tuple(k.fn for k in kernels),
        tuple(k.arg for k in kernels),
        tuple(k.name for k in kernels),
        add_operator_note,
        WouldBlock,
        EndOfStream,
        native_checkpoint(),  # taken once per loop: see _backends.py
        inspect.isawaitable,
        MALFORMED,
        _MISSING,
        CHECKPOINT_EVERY,
        receive_fast_path,
        send_fast_path,
        _shield,
        _ONCE,
        _first,
        _pred,
        AsyncGeneratorType,
    )


def _first(op: str | None, name: str, value: object) -> None:
    """The first result of a ``map``/``parse`` kernel must not need awaiting."""
    refuse_unawaited(op or "map", "fn", name, value)


def _pred(op: str | None, name: str, value: object) -> None:
    """A filter kernel's predicate returned an async generator object."""
    refuse_async_gen_result(op or "where", "predicate", name, value)


def source_of(shape: FusedShape) -> str:
    """The generated source for ``shape`` (for tests and debugging)."""
    return _generate(shape)
