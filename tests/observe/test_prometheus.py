"""anystream.observe.prometheus, tested by real scrapes (issue 17).

Each test starts the endpoint on a free port of 127.0.0.1, runs a pipeline, fetches
``/metrics`` over HTTP with urllib (in a worker thread, so the event loop keeps going)
and parses the answer with ``prometheus_client.parser``. Real clocks: the scrape is real
network I/O in a thread, which a virtual clock would not wait for.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from anystream import Stream, buffered, from_iterable, map, parse, where
from anystream.observe.prometheus import RunCollector, start_http_server

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


async def scrape(url: str) -> Samples:
    text = await anyio.to_thread.run_sync(fetch, url)
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels``."""
    found = [
        v for (n, have), v in samples.items() if n == name and set(labels.items()) <= set(have)
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in {sorted(samples)}"
    return found[0]


def pipeline() -> Stream[int]:
    return (
        from_iterable([str(i) if i % 10 else "bad" for i in range(100)])
        | parse(int)
        | buffered(8)
        | where(lambda n: n % 2 == 0, name="even")
    )


async def test_scrape_after_a_run_shows_counters_drops_and_buffers() -> None:
    s = pipeline()
    with anyio.fail_after(30):
        async with start_http_server(s, pipeline="demo") as server:
            assert server.url == f"http://127.0.0.1:{server.port}/metrics"
            before = await scrape(server.url)
            assert not [k for k in before if k[0].startswith("anystream_")], "no run yet"
            result = await s.collect()
            samples = await scrape(server.url)
    assert len(result) == 40  # 90 parse, 40 of them even
    items = "anystream_items_total"
    assert value(samples, items, operator="from_iterable", outcome="emitted") == 100
    assert value(samples, items, operator="parse(int)", outcome="received") == 100
    assert value(samples, items, operator="parse(int)", outcome="emitted") == 90
    assert (
        value(samples, "anystream_dropped_total", operator="parse(int)", reason="malformed") == 10
    )
    assert (
        value(samples, "anystream_dropped_total", operator="where(even)", reason="filtered") == 50
    )
    assert value(samples, items, operator="where(even)", outcome="emitted", pipeline="demo") == 40
    assert value(samples, "anystream_buffer_capacity", operator="buffered(8)") == 8
    assert value(samples, "anystream_buffer_fill", operator="buffered(8)") == 0
    assert value(samples, items, operator="where(even)", outcome="dead_lettered", position="3") == 0


async def slow(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await anyio.sleep(0.001)
        yield i


async def test_scrape_during_a_timed_run_balances_and_has_latency_quantiles() -> None:
    s = from_iterable(slow(40)) | map(lambda n: n * 2, name="double") | buffered(4)
    with anyio.fail_after(30):
        async with s.stream(timing=True) as run:
            server = start_http_server(run)
            try:
                got = 0
                async for _ in run:
                    got += 1
                    if got == 20:
                        mid = await scrape(server.url)
                rest = await scrape(server.url)
            finally:
                await server.aclose()
    # Mid-run: downstream never counts more than upstream handed on, and what the
    # consumer got is what the last operator emitted.
    emitted = [
        value(mid, "anystream_items_total", operator=op, outcome="emitted")
        for op in ("from_iterable", "map(double)", "buffered(4)")
    ]
    assert emitted == sorted(emitted, reverse=True)
    assert emitted[0] < 40, "scraped while the run was still going"
    assert value(mid, "anystream_items_total", operator="buffered(4)", outcome="emitted") >= 20
    assert value(rest, "anystream_items_total", operator="buffered(4)", outcome="emitted") == 40
    count = value(rest, "anystream_end_to_end_seconds_count")
    assert count == 40
    p99 = value(rest, "anystream_end_to_end_seconds", quantile="0.99")
    assert p99 >= 0
    stage = "anystream_stage_seconds_count"
    assert any(k[0] == stage for k in rest), sorted(rest)


async def test_collector_on_a_shared_registry_and_closing_frees_the_port() -> None:
    registry = CollectorRegistry()
    a = from_iterable(range(3)) | where(lambda n: n > 0)
    b = from_iterable(range(5))
    registry.register(RunCollector(a, pipeline="a"))
    registry.register(RunCollector(b, pipeline="b"))
    with anyio.fail_after(30):
        await a.collect()
        await b.collect()
    families = {
        (s.name, s.labels["pipeline"], s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if s.name == "anystream_items_total" and s.labels["position"] == "0"
    }
    assert families[("anystream_items_total", "a", "emitted")] == 3
    assert families[("anystream_items_total", "b", "emitted")] == 5
    server = start_http_server(b)
    server.close()
    server.close()  # closing twice is harmless
    assert "closed" in repr(server)
    with pytest.raises(urllib.error.URLError):
        await anyio.to_thread.run_sync(fetch, server.url)


def test_bad_input_names_the_function_and_argument() -> None:
    with pytest.raises(TypeError, match=r"start_http_server\(\): source must be a Stream"):
        start_http_server([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"start_http_server\(\): port must be between"):
        start_http_server(from_iterable([1]), 70000)
    with pytest.raises(TypeError, match=r"start_http_server\(\): port must be an int"):
        start_http_server(from_iterable([1]), "80")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"RunCollector\(\): namespace"):
        RunCollector(from_iterable([1]), namespace="a-b")
