"""The response-pipe reader that stays registered with an asyncio loop."""

from __future__ import annotations

import os
import time

import anyio
import pytest

from anystream.ops._process_backends import PipeReader, running_loop

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]


async def test_used_on_asyncio_only(anyio_backend_name: str) -> None:
    loop = running_loop()
    assert (loop is not None) == (anyio_backend_name == "asyncio")


def test_no_loop_outside_an_event_loop() -> None:
    assert running_loop() is None


async def _reader_on_a_pipe() -> tuple[PipeReader, bytearray, int, int] | None:
    loop = running_loop()
    if loop is None:
        return None  # trio: the pool waits with anyio.wait_readable() instead
    r, w = os.pipe()
    os.set_blocking(r, False)
    buffer = bytearray()
    return PipeReader(loop, r, buffer), buffer, r, w


async def test_the_callback_fills_the_buffer_and_wakes_the_waiter() -> None:
    made = await _reader_on_a_pipe()
    if made is None:
        return
    reader, buffer, r, w = made
    try:
        async with anyio.create_task_group() as tg:

            async def write_later() -> None:
                await anyio.sleep(0.01)
                os.write(w, b"abc")

            tg.start_soon(write_later)
            with anyio.fail_after(5):
                await reader.wait()
        assert bytes(buffer) == b"abc"
        os.write(w, b"def")
        with anyio.fail_after(5):
            await reader.wait()  # registered all along: no new registration needed
        assert bytes(buffer) == b"abcdef"
    finally:
        reader.close()
        os.close(r)
        os.close(w)


async def test_end_of_file_wakes_the_waiter_and_unregisters() -> None:
    made = await _reader_on_a_pipe()
    if made is None:
        return
    reader, _, r, w = made
    try:
        os.close(w)
        with anyio.fail_after(5):
            await reader.wait()
        assert reader.eof
        await reader.wait()  # returns at once after the end
        reader.close()  # idempotent after end of file
    finally:
        os.close(r)


async def test_unread_data_does_not_keep_the_loop_busy() -> None:
    # Nobody waits (the stage is held up downstream) while a response sits in the pipe:
    # the callback has drained it, so the loop sleeps instead of spinning.
    made = await _reader_on_a_pipe()
    if made is None:
        return
    reader, buffer, r, w = made
    try:
        os.write(w, b"x" * 100)
        await anyio.sleep(0.01)
        cpu = time.process_time()
        await anyio.sleep(0.3)
        assert time.process_time() - cpu < 0.1
        assert bytes(buffer) == b"x" * 100
    finally:
        reader.close()
        os.close(r)
        os.close(w)


async def test_a_cancelled_wait_leaves_the_reader_usable() -> None:
    made = await _reader_on_a_pipe()
    if made is None:
        return
    reader, buffer, r, w = made
    try:
        with anyio.move_on_after(0.01):
            await reader.wait()
        os.write(w, b"ok")
        with anyio.fail_after(5):
            await reader.wait()
        assert bytes(buffer) == b"ok"
    finally:
        reader.close()
        os.close(r)
        os.close(w)
