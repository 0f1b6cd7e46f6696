"""Fusion: compile a run of per-item kernels into one loop.

A chain of ``map | where | parse | map`` written as async generators costs a generator
frame switch per operator per item; that overhead, not the user's functions, dominates
a cheap per-item pipeline (docs/concepts.md). The runner instead generates, once per
*shape* of chain, the loop a person would write by hand::

    async def seg(src, out, cnt, st, close_upstream):
        anext = src.__anext__
        while True:
            if st.stopping: break              # StopState.pull(), inlined
            st.pulling = True
            try:
                x = await anext()
            except StopAsyncIteration:
                break
            st.pulling = False
            counts0.received += 1
            try:
                x = fn0(x)                     # parse
            except MALFORMED:
                counts0.malformed += 1
                continue
            ...
            counts_out.received += 1
            yield x

The functions (``fn0``...) and arguments are closure variables, so one compiled shape
serves every stream with the same sequence of kernel kinds; shapes are cached.

Generated source is unusual in a library, so the rules are kept narrow: only the
templates in this module are ever compiled, user values are never formatted into code
(they are passed as closure variables), and each template reads like the hand-written
loop above. A template is the literal text of one piece: a driver per input (how ``x``
is obtained) and per output (how it is handed on), and a body snippet per kernel kind
(table ``KERNELS``), with ``$holes`` for the pieces that go inside (see ``fill``). The
generated source is registered with ``linecache`` under its file name (``<anystream
fused parse|map iter->list>``), so a traceback through a fused loop shows the line that
was running, and ``print(source_of(shape))`` shows the whole loop. Every call into user
code is wrapped so that its exception gets a note naming the operator; on CPython 3.11+
a ``try`` block costs nothing until it raises.

What each kernel kind does with an item is declared once, as data, in ``kernels.py``,
which also holds a plain reference interpreter of the same kernels: this module is "the
same, inlined". ``tests/properties/test_fuse_oracle.py`` runs random chains through both
and compares items, counters, stops and errors. With ``ANYSTREAM_NO_FUSE=1`` in the
environment at import (:data:`FUSE` false) :func:`compile_kernels` returns the
interpreter's loop instead of generated code, to rule this module out while debugging.

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

Counters: ``cnt`` holds one :class:`~.stats.StageCounts` per kernel (``counts0``...)
and one for whatever takes the loop's output (``counts_out``: the next generator
operator's, or the segment's exit). ``countsI.received`` counts items entering kernel
``I``, ``counts_out.received`` items leaving the loop, and a kernel's drops go to the
field named by its reason (``counts0.malformed``); what kernel ``I`` emitted is what the
next one received (``stats.py``). A loop with no per-item ``await`` (sync or stream
input, send or list output, no async kernel) counts in local variables and writes them
to the StageCounts before every ``await`` and when it ends: other tasks can only read
the counters while the loop is suspended, so they always see exact figures, for less
than an attribute increment per item (docs/performance.md). (Code called *by* the loop,
e.g. a kernel reading ``run.stats()``, sees the figures as of the loop's last wait.)
Such a loop counts only two things per item, both in ints small enough for CPython to
keep preallocated (adding to a larger one allocates): ``tick``, the items that entered
it since the last *fold* (which for a sync source is also its checkpoint tick), and
each kernel's drops since then; a fold (at each tick, each batch) adds them to running
totals. Everything else is derived when it is published: what entered kernel ``J`` is
what entered the loop less what the kernels before ``J`` dropped, less the item in hand
if it stopped at a kernel before ``J`` (``pos``: set when a kernel raises or awaits, so
a failed or waiting item is counted where it is). See ``_local_counters``.

Parking: while items flow in batches, a stream-fed loop that finds its input empty, or
a loop whose output is full, first yields once with ``checkpoint()`` and tries again,
and only then parks. The peer it needs has usually been woken already and runs during
that one yield (it was woken by this loop's own hand-offs), so the retry succeeds; a
park proper costs a second scheduler pass plus an Event and its wake-up. When items
trickle (one per wake-up) the yield never helps and would cost a pass per item, so each
side stays *patient* only while its last park ended with more than one item to move:
more input already waiting, or more than one free place. Items that come in small
batches at moderate load (a paced source whose timer releases a few at a time) end
every park with more waiting, yet the producer has nothing more: so a receiving loop
whose patient yield moved nothing parks at once for its next 8 parks before trying
patience again (one futile pass in 9 batches, not one per batch). Cancellation is delivered at
the checkpoint exactly as at ``receive()``/``send()``'s own. The receive side parks
with ``handoff.parking_receive``, which skips ``receive()``'s own leading checkpoint:
the loop has just found the buffer empty, and that checkpoint would be one more pass
per trickling item (the patient yield above is the one that helps, and only in batches).

Room: a loop that sends keeps ``room``, the places it may fill in its output buffer
without asking anyone, and appends while it is non-zero. Only another task can take
items, park as a receiver or close the receiving side, and other tasks run only while
this loop waits, so ``room`` is recomputed after every ``await`` (and after a slow-path
``send_nowait()``, which may have woken a receiver) instead of checking the buffer's
length, the parked receivers and the open receivers for every item.

Batches: a stream-fed loop with no per-item await takes everything its input buffer
holds in one C call (``[*inbuf]``, then ``clear()``) and runs the kernels over that list,
instead of testing and popping the deque once per item. Nothing else runs until the
loop awaits, so no other task can tell the difference, with one exception that the
loop handles: before any await in the middle of a batch (a full output, a filter whose
result turns out to be awaitable) it puts what it has not handled back at the front of
its input. Every other task therefore sees the buffers, the counters and the memory
bound exactly as with one item at a time. A pass-through loop into a list (``collect()``
after a staged operator) extends the list by the whole batch. A sync source feeding a
buffer with no kernel between fills the rest of its room with one ``deque.extend()``
over ``islice``, still bounded by the checkpoint tick.

What each of these choices saved, measured, is in docs/performance.md ("What the fused
loop's design choices measured").
"""

from __future__ import annotations

import inspect
import linecache
import os
import re
from collections.abc import Callable, Sequence
from itertools import islice
from types import AsyncGeneratorType
from typing import Any

from anyio import CancelScope, EndOfStream, WouldBlock

from ._backends import native_checkpoint
from .callables import refuse_async_gen_result, refuse_unawaited
from .errors import add_operator_note
from .handoff import parking_receive, receive_fast_path, send_fast_path
from .kernels import CHECKPOINT_EVERY, INPUTS, KINDS, MALFORMED, OUTPUTS, Input, Output, interpret
from .operator import Kernel

__all__ = ["CHECKPOINT_EVERY", "FUSE", "MALFORMED", "FusedShape", "compile_kernels"]

#: False when the environment variable ``ANYSTREAM_NO_FUSE`` is set to anything but ``""``
#: or ``"0"`` at import: every loop then runs in the reference interpreter of
#: ``kernels.py`` instead of generated code (a debugging aid; see docs/performance.md).
FUSE = os.environ.get("ANYSTREAM_NO_FUSE", "") in ("", "0")

FusedShape = tuple[tuple[str, ...], Input, Output, bool]

_MISSING = object()

# -- templates ---------------------------------------------------------------------------
#
# Each template is the literal text of a piece of the loop. ``$name`` is a hole: a line
# holding nothing but a hole takes a block of lines at its indentation (and disappears
# when the block is empty); a hole inside a line takes a word. ``$i`` is the kernel's
# index; ``$entered``, ``$dropped`` and ``$emitted`` its counters (see "Counters").

FACTORY = """\
def factory(fns, args, names, note, WouldBlock, EndOfStream, checkpoint,
            isawaitable, MALFORMED, MISSING, K, rx_fast, tx_fast, shield, ONCE,
            first, pred, AGEN, rx_park):
    $bind_kernels
    async def seg(src, out, cnt, st, close_upstream):
        $open_counters
        $open_input
        $open_output
        $open_takes
        $run
    return seg
"""

BIND_KERNEL = "fn$i = fns[$i]; arg$i = args[$i]; name$i = names[$i]"

# A ``map`` kernel's first result in a run must not need awaiting (a lambda calling an
# async def cannot be told from a plain function when the operator is built): a stand-in
# checks it, then puts the function itself back, so later items pay nothing.
BIND_MAP_KERNEL = """\
fn$i = fns[$i]; arg$i = args[$i]; name$i = names[$i]
def once$i(x, f=fn$i):
    nonlocal fn$i
    x = f(x)
    first(arg$i, name$i, x)
    fn$i = f
    return x
fn$i = once$i
"""

# The loop, with its counters in locals: loaded once, published in the end.
RUN_WITH_LOCAL_COUNTERS = """\
$load_counters
try:
    $loop
    $when_taken
finally:
    $publish
"""

RUN = """\
$loop
$when_taken
"""

# take() is satisfied: close the upstream now, not when the run ends.
WHEN_TAKEN = """\
if done:
    $close
"""

# -- inputs: obtain ``x``, then run ``$item`` --

OPEN_AITER = "anext = src.__anext__"

OPEN_ITER = "tick = 0"

# A stream: its buffer and parked senders in locals for the fast path (see handoff.py).
OPEN_STREAM = """\
receive_nowait = src.receive_nowait; receive = rx_park(src)
inbuf, waiting_senders = rx_fast(src)
patient_rx = True  # yield once before parking (see "Parking")
shy_rx = 0  # parks left before trying patience again after a yield that did not help
"""

# ``$stop_check`` .. ``$pulled`` is StopState.pull() inlined (shutdown.py): the stop is
# checked before the pull, and ``pulling`` is set only while waiting inside the source.
AITER = """\
while $running:
    $stop_check
    $pulling
    try:
        x = await anext()
    except StopAsyncIteration:
        break
    $pulled
    $refresh
    $item
"""

# A sync source read by ``for``: the fastest way, but the stop can only be seen after a
# pull (ITER_FOR_STOPPABLE).
ITER_FOR = """\
for x in src:
    $tick
    $item
"""

# The same for the loop that owns the source: a stop seen after a pull ends the loop, and
# the item in hand is finished after it, shielded (see SHIELDED_ITEM). ``$look`` is the
# tick, then the stop check.
ITER_FOR_STOPPABLE = """\
for x in src:
    $look
    $item
else:
    x = MISSING
if x is not MISSING:
    with st.finishing():
        for _ in ONCE:
            $body
"""

# A sync source read one ``next_item()`` at a time: the stop is checked before each pull.
ITER_WHILE = """\
while $running:
    $stop_check
    try:
        x = next_item()
    except StopIteration:
        break
    $tick
    $item
"""

# Every CHECKPOINT_EVERY items, a sync source lets the event loop run. Not a wait inside
# the source: ``x`` is in hand, so ``pulling`` stays false and a stop cannot cancel it
# here; the stop flag is seen right after (shutdown.py).
TICK = """\
tick += 1
if tick >= K:
    tick = 0
    $publish
    await checkpoint()
    $refresh
"""

# The same with local counters (see "Counters"): ``tick`` is also the count of items
# that entered the loop since the last fold, and goes up when the item in hand enters
# its first kernel, so here it still counts the previous item as the last one in: the
# item in hand is not counted while the loop waits, and the cadence is TICK's (``tick``
# starts at 1).
TICK_COUNTING = """\
if tick >= K:
    $fold
    $publish
    await checkpoint()
    $refresh
"""

# TICK_COUNTING and the stop check of the loop that owns the source, in one compare per
# item: ``st.tick_limit`` is K until a stop is requested, and 0 from then on (shutdown.py).
LOOK_COUNTING = """\
if tick >= st.tick_limit:
    $tick
    if st.stopping: break
"""

# Fast path: take straight from the buffer when it has data and no sender is parked (a
# parked sender must be moved into the buffer and woken, which receive_nowait() does).
# Empty with no sender parked: receive_nowait() could only raise WouldBlock (or
# EndOfStream, which the park raises as well), so go straight on. Then let the producer
# run once before parking while items come in batches.
STREAM = """\
while $running:
    if inbuf and not waiting_senders:
        $from_buffer
    else:
        if waiting_senders:
            $receive_nowait
        else:
            x = MISSING
        if x is MISSING:
            $publish
            if patient_rx:
                await checkpoint()
                $receive_nowait
                if x is MISSING:
                    shy_rx = 8  # the yield moved nothing: park at once for a while
            if x is MISSING:
                try:
                    x = await receive()
                except EndOfStream:
                    break
                if shy_rx:
                    shy_rx -= 1
                    patient_rx = False
                else:
                    patient_rx = bool(inbuf)
            $refresh
        $batch_of_one
    $item
"""

RECEIVE_NOWAIT = """\
try:
    x = receive_nowait()
except WouldBlock:
    x = MISSING
except EndOfStream:
    break
"""

ONE_FROM_BUFFER = "x = inbuf.popleft()"

# See "Batches": everything the input holds, in one C call.
BATCH_FROM_BUFFER = """\
$fold
batch = iter([*inbuf]); inbuf.clear()
"""

BATCH_OF_ONE = """\
$fold
batch = iter((x,))
"""

# Nothing to apply (collect() after a staged operator): the list takes the whole batch.
ALL_FROM_BUFFER = """\
entered += len(inbuf); extend(inbuf); inbuf.clear()
continue
"""

# Before an await in the middle of a batch: the items not handled yet go back to the
# front of the input, and the batch's iterator is left exhausted (see "Batches").
PUT_BACK = "inbuf.extendleft(reversed([*batch]))"

# -- the item in hand --

# After a stop, finish the item in hand shielded from the stop but not from an abort,
# then stop: StopState.finish_item() inlined (shutdown.py). A one-pass loop: the body's
# ``continue`` (a drop) must end this item, not pull the next.
SHIELDED_ITEM = """\
if st.stopping:
    with st.finishing():
        for _ in ONCE:
            $body
    break
"""

BATCH = """\
for x in batch:
    $stop_when_taken
    $body
"""

# -- kernels: what each kind does with ``x`` (kernels.py says the same in words) --
#
# ``$enter`` counts the item into the kernel; ``$failed`` (in every handler that lets an
# exception out) and ``$at``/``$past`` (around a wait inside the kernel) tell derived
# counters that the item in hand stopped at this kernel (see "Counters"). ``$rest`` is
# what follows the kernel, in its ``try``'s ``else``: CPython lays a ``try`` out with its
# ``else`` straight after the body and the handlers at the end, so an item that passes
# every kernel runs straight through, with no jump over a handler per kernel.

KERNELS: dict[str, str] = {
    "map": """\
$enter
try:
    x = fn$i(x)
except Exception as e:
    $failed
    note(e, name$i)
    raise
$base_failed
else:
    $rest
""",
    "amap": """\
$enter
try:
    x = await fn$i(x)
except Exception as e:
    note(e, name$i)
    raise
else:
    $refresh
    $rest
""",
    # A sync predicate may still return an awaitable (a lambda calling an async def).
    # ``True`` costs one identity test; anything else but ``False`` takes the slow path.
    "filter": """\
$enter
try:
    keep = fn$i(x)
except Exception as e:
    $failed
    note(e, name$i)
    raise
$base_failed
else:
    if keep is not True:
        if keep is not False:
            try:
                if isawaitable(keep):
                    $at
                    $publish
                    $put_back
                    keep = await keep
                    $past
                    $refresh
                elif type(keep) is AGEN:  # always truthy: refused, not taken for "keep"
                    pred(arg$i, name$i, keep)
            except Exception as e:
                $failed
                note(e, name$i)
                raise
            $base_failed
        if not keep:
            $dropped += 1
            continue
    $rest
""",
    "afilter": """\
$enter
try:
    keep = await fn$i(x)
except Exception as e:
    note(e, name$i)
    raise
else:
    $refresh
    if not keep:
        $dropped += 1
        continue
    $rest
""",
    # The first result of a run is checked as for map, outside the ``try``: the check's
    # TypeError must not be taken for a malformed input. After that, one flag test.
    "parse": """\
$enter
try:
    x = fn$i(x)
except MALFORMED:
    $dropped += 1
    continue
except Exception as e:
    $failed
    note(e, name$i)
    raise
$base_failed
else:
    if unchecked$i:
        unchecked$i = False
        $at
        first(arg$i, name$i, x)
        $past
    $rest
""",
    "take": """\
$enter
taken$i += 1
if taken$i >= arg$i: done = True
$rest
""",
}

OPEN_TAKE = """\
taken$i = 0
if arg$i <= 0: done = True
"""

# -- outputs: hand ``x`` on --

OPEN_SEND = """\
send_nowait = out.send_nowait; send = out.send
out_state, outbuf, waiting_receivers, capacity = tx_fast(out)
patient_tx = True  # yield once before parking (see "Parking")
$refresh
"""

OPEN_LIST = "extend = out.extend"

# Free places in the output buffer that the loop may fill without asking anyone: none
# while a receiver is parked (it must be handed the item and woken) or once every
# receiver has gone (send_nowait() raises BrokenResourceError for that). See "Room".
ROOM = (
    "room = 0 if waiting_receivers or not out_state.open_receive_channels"
    " else capacity - len(outbuf)"
)

OUTPUTS_TEMPLATES: dict[str, str] = {
    "yield": """\
$emit
yield x
""",
    # ``out.append`` spelt out: CPython 3.11 specialises it to an inline list append,
    # where a bound method in a local is a call into C.
    "list": """\
$emit
out.append(x)
""",
    "put": """\
$emit
await out(x)
""",
    # Fast path: append to the buffer while there is room and no receiver is parked.
    # Full: let the consumer run once before parking while it takes items in batches.
    "send": """\
$emit
if room:
    room -= 1
    outbuf.append(x)
    $fill_from_source
    continue
try:
    send_nowait(x)
except WouldBlock:
    pass
else:
    $refresh
    continue
$publish
$put_back
if patient_tx:
    await checkpoint()
    try:
        send_nowait(x)
    except WouldBlock:
        await send(x)
        $refresh
        patient_tx = room > 0
    else:
        $refresh
else:
    await send(x)
    $refresh
    patient_tx = room > 0
$send_checkpointed
""",
}

# A sync source straight into a buffer: after the item in hand, fill the rest of the
# room from the iterator in one call. No await until the next item, so nothing else
# runs: the room and the stop flag cannot change; the tick still bounds the run of items
# between two checkpoints. The counter is right even if the iterator raises half way,
# because what it yielded is already in the buffer.
FILL_FROM_SOURCE = """\
k = K + 1 - tick  # TICK_COUNTING's tick has counted the item in hand already
if room < k: k = room
if k > 0:
    n = len(outbuf)
    try:
        outbuf.extend(islice(src, k))
    finally:
        n = len(outbuf) - n; room -= n; tick += n
"""

_HOLE = re.compile(r"\$(\w+)")


def fill(template: str, **holes: str) -> str:
    """``template`` with its holes filled (see "templates" above); unknown holes raise."""
    lines: list[str] = []
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("$") and _HOLE.fullmatch(stripped):
            block = holes[stripped[1:]]
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + inner for inner in block.splitlines() if inner.strip()]
        else:
            lines.append(_HOLE.sub(lambda hole: holes[hole.group(1)], line))
    return "\n".join(lines) + "\n" if lines else ""


def _generate(shape: FusedShape) -> str:
    kinds, source, output, stoppable = shape
    m = len(kinds)
    has_take = "take" in kinds
    # Local counters (see "Counters"): only when the loop never awaits per item, so that
    # publishing them before each await is rare. With a per-item await (an async source,
    # an async kernel, a yield to the consumer) the list is updated in place.
    local = (
        source in ("iter", "stream")
        and output in ("send", "list")
        and not any(KINDS[kind].calls == "await" for kind in kinds)
    )
    # Batches: a stream-fed loop that never awaits per item takes its whole input at once.
    batch = local and source == "stream"
    # A sync source straight into a buffer (``from_iterable(xs) | buffered(n)``).
    bulk = not kinds and source == "iter" and output == "send"
    # A sync source is read by ``for`` unless something must be checked before a pull.
    iter_for = source == "iter" and not has_take and not (stoppable and output == "yield")
    # A stop may cancel this task while it waits in the source, and anyio delivers that
    # at the next wait: finish the item in hand shielded so it is not lost (shutdown.py).
    shielded = stoppable and output != "yield" and source in ("iter", "aiter")

    # Kernels that never drop (map, take) have no drop counter at all.
    drops = {i: f"counts{i}.{KINDS[kind].drop}" for i, kind in enumerate(kinds) if KINDS[kind].drop}
    counting = _local_counters(m, drops, source) if local else None
    publish = counting.publish if counting else ""
    common = {
        "publish": publish,
        "fold": counting.fold if counting else "",
        "refresh": ROOM if output == "send" else "",
        "put_back": PUT_BACK if batch else "",
        "running": "not done" if has_take else "True",
        "stop_check": "if st.stopping: break" if stoppable else "",
        "pulling": "st.pulling = True" if stoppable else "",
        "pulled": "st.pulling = False" if stoppable else "",
    }

    def kernel(i: int, kind: str, rest: str) -> str:
        if counting is None:
            enter, dropped, at, past, failed, base_failed = (
                f"counts{i}.received += 1",
                drops.get(i, ""),
                "",
                "",
                "",
                "",
            )
        else:
            # Only the first kernel counts its items (in ``tick``); the others' are derived.
            enter, dropped = ("tick += 1" if i == 0 else ""), f"dropped{i}"
            at, past, failed = f"pos = {i}", f"pos = {m}", f"pos = {i}"
            base_failed = f"except BaseException:\n    pos = {i}\n    raise"
        return fill(
            KERNELS[kind],
            **common,
            i=str(i),
            enter=enter,
            dropped=dropped,
            at=at,
            past=past,
            failed=failed,
            base_failed=base_failed,
            rest=rest,
        )

    if counting is None:
        emit, send_checkpointed = "counts_out.received += 1", "tick = 0"
    else:
        # A loop without kernels counts what it emits as the first kernel would.
        emit = "" if m else "tick += 1"
        send_checkpointed = "entered += tick - 1; tick = 1"  # see TICK_COUNTING

    def body(more: bool) -> str:
        """The kernels and the output for one item ``x``, each nested in the one before."""
        rest = fill(
            OUTPUTS_TEMPLATES[output],
            **common,
            emit=emit,
            fill_from_source=fill(FILL_FROM_SOURCE, **common) if more else "",
            # send() is a checkpoint: the next tick is K items from here.
            send_checkpointed=send_checkpointed if source == "iter" else "",
        )
        for i in reversed(range(m)):
            rest = kernel(i, kinds[i], rest)
        return rest

    item = fill(SHIELDED_ITEM, body=body(False)) if shielded and not iter_for else ""
    if batch:
        stop_when_taken = "if done: break" if has_take else ""
        item += fill(BATCH, stop_when_taken=stop_when_taken, body=body(False))
    else:
        item += body(bulk)

    if source == "aiter":
        open_input = OPEN_AITER
        loop = fill(AITER, **common, item=item)
    elif source == "iter":
        open_input = "" if counting else OPEN_ITER
        if bulk:  # one iterator for the loop and for the bulk pulls
            open_input += "\nsrc = iter(src)"
        tick = fill(TICK_COUNTING if counting else TICK, **common)
        if iter_for and shielded:
            look = fill(LOOK_COUNTING, tick=tick) if counting else tick + "if st.stopping: break"
            loop = fill(ITER_FOR_STOPPABLE, look=look, item=item, body=body(False))
        elif iter_for:
            loop = fill(ITER_FOR, tick=tick, item=item)
        else:
            open_input += "\nnext_item = iter(src).__next__"
            loop = fill(ITER_WHILE, **common, tick=tick, item=item)
    else:
        open_input = OPEN_STREAM
        if batch and not kinds and output == "list":
            from_buffer = fill(ALL_FROM_BUFFER, **common)
        else:
            from_buffer = fill(BATCH_FROM_BUFFER, **common) if batch else ONE_FROM_BUFFER
        loop = fill(
            STREAM,
            **common,
            from_buffer=from_buffer,
            receive_nowait=RECEIVE_NOWAIT,
            batch_of_one=fill(BATCH_OF_ONE, **common) if batch else "",
            item=item,
        )

    if output == "send":
        open_output = fill(OPEN_SEND, **common)
    else:
        open_output = OPEN_LIST if output == "list" else ""
    # parse checks its first result of the run (see KERNELS["parse"]).
    open_takes = "".join(
        f"unchecked{i} = True\n" for i, kind in enumerate(kinds) if kind == "parse"
    )
    when_taken = ""
    if has_take:
        open_takes += "done = False\n" + "".join(
            fill(OPEN_TAKE, i=str(i)) for i, kind in enumerate(kinds) if KINDS[kind].limit
        )
        close = "src.close()" if source == "stream" else f"{publish}\nawait close_upstream()"
        when_taken = fill(WHEN_TAKEN, close=close)
    if counting:
        run = fill(
            RUN_WITH_LOCAL_COUNTERS,
            load_counters=counting.load,
            loop=loop,
            when_taken=when_taken,
            publish=publish,
        )
    else:
        run = fill(RUN, loop=loop, when_taken=when_taken)
    return fill(
        FACTORY,
        # Unpacking checks that the loop was given one StageCounts per kernel, plus one.
        open_counters="".join(f"counts{i}, " for i in range(m))
        + "counts_out"
        + ("" if m else ",")
        + " = cnt",
        bind_kernels="".join(
            fill(BIND_MAP_KERNEL if kind == "map" else BIND_KERNEL, i=str(i))
            for i, kind in enumerate(kinds)
        ),
        open_input=open_input,
        open_output=open_output,
        open_takes=open_takes,
        run=run,
    )


class _Counting:
    """The statements of a loop with local counters (see "Counters")."""

    __slots__ = ("fold", "load", "publish")

    def __init__(self, load: str, fold: str, publish: str) -> None:
        self.load = load
        self.fold = fold
        self.publish = publish


def _local_counters(m: int, drops: dict[int, str], source: str) -> _Counting:
    """Load, fold and publish statements for ``m`` kernels dropping into ``drops``.

    Per item the loop adds to small ints only: ``tick`` (items that entered the first
    kernel, or the output when there is none, since the last fold) and ``droppedI`` (what
    kernel ``I`` dropped since then); a fold moves them into ``entered`` and ``goneI``.
    Every other figure is derived when it is published: what entered kernel ``J`` is what
    entered the loop less what the kernels before ``J`` dropped, less the item in hand
    when it stopped at a kernel before ``J`` (``pos``: its kernel, or ``m`` when none).
    Every field is published as its value at the loop's start plus this run's figure.
    """
    fields = [f"counts{j}.received" for j in range(m)] + ["counts_out.received"]
    # A sync source starts ``tick`` at 1: see TICK_COUNTING.
    first = ("entered = -1; tick = 1",) if source == "iter" else ("entered = 0; tick = 0",)
    load = [f"base{j} = {field}" for j, field in enumerate(fields)]
    load += [f"lost{i} = {field}; gone{i} = 0; dropped{i} = 0" for i, field in drops.items()]
    fold = ["entered += tick; tick = 0"]
    fold += [f"gone{i} += dropped{i}; dropped{i} = 0" for i in drops]
    publish = []
    for j, field in enumerate(fields):
        value = f"base{j} + entered + tick"
        value += "".join(f" - gone{i} - dropped{i}" for i in drops if i < j)
        if j:
            value += f" - (pos < {j})"
        publish.append(f"{field} = {value}")
    publish += [f"{field} = lost{i} + gone{i} + dropped{i}" for i, field in drops.items()]
    if m:
        load.append(f"pos = {m}")
    return _Counting("\n".join([*first, *load]), "; ".join(fold), "; ".join(publish))


_cache: dict[FusedShape, Callable[..., Any]] = {}


def _factory(shape: FusedShape) -> Callable[..., Any]:
    factory = _cache.get(shape)
    if factory is None:
        source = _generate(shape)
        kinds, inp, out, stoppable = shape
        stop = " stoppable" if stoppable else ""
        filename = f"<anystream fused {'|'.join(kinds) or 'pass'} {inp}->{out}{stop}>"
        # Registered as a file with no modification time, which linecache never evicts:
        # a traceback through the loop shows its source lines (as dataclasses does).
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
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
    kernels: Sequence[Kernel],
    source: str,
    output: str,
    *,
    stoppable: bool = False,
    interpreted: bool = False,
) -> Callable[..., Any]:
    """Return ``seg(src, out, cnt, st, close_upstream)`` running ``kernels``.

    ``seg`` is an async generator function for output ``"yield"`` and a coroutine
    function otherwise. ``cnt`` must be a sequence of ``len(kernels) + 1``
    :class:`~.stats.StageCounts` (see "Counters");
    ``st`` the run's :class:`StopState`; ``close_upstream`` an ``async`` callable that
    closes everything upstream of an iterator input, called when a ``take`` is done.
    A *stoppable* loop (the one that owns the source) checks the stop flag before each
    pull and, after a stop, finishes the item in hand shielded (see ``kernels.py``).
    ``interpreted`` (a timed run) asks for the reference interpreter's loop instead of
    generated code, as ``ANYSTREAM_NO_FUSE=1`` does for every loop.
    """
    if interpreted or not FUSE:
        return interpret(kernels, source, output, stoppable=stoppable)
    if source not in INPUTS or output not in OUTPUTS:
        raise ValueError(f"no fused loop from {source!r} to {output!r}")
    shape: FusedShape = (tuple(k.kind for k in kernels), source, output, stoppable)
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
        parking_receive,
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
