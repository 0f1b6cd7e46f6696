"""Events of the demo: parsing, the severity threshold, the lookup service, summaries."""

from __future__ import annotations

import anyio
import pytest

from anystream import Window
from anystream.demo.events import (
    Event,
    RegionService,
    at_least,
    make_enricher,
    parse_event,
    severity_rank,
    summarize,
)

pytestmark = pytest.mark.anyio


def test_parse_event_reads_the_four_fields() -> None:
    assert parse_event("1.250,order,warn,3\n") == Event(1.25, "order", "warn", 3)


@pytest.mark.parametrize(
    "line",
    [
        "1.0,order,info",
        "1.0,order,loud,3",
        "1.0,auth,warn,user3",
        "1.0;payment;error;2",
        "\x00garbage\x00",
        "x,order,info,1",
        "1.0,refund,info,1",
        "1.0,order,info,0",
        "1.0,order,info,1,extra",
        "",
    ],
)
def test_malformed_lines_raise_value_error(line: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):  # any message, as long as there is one
        parse_event(line)


def test_severity_threshold() -> None:
    keep = at_least("warn")
    kept = [s for s in ("debug", "info", "warn", "error") if keep(Event(0, "order", s, 1))]
    assert kept == ["warn", "error"]
    assert severity_rank("debug") == 0
    with pytest.raises(ValueError, match="unknown severity 'loud'"):
        at_least("loud")


async def test_region_lookup_takes_its_latency() -> None:
    service = RegionService(latency=0.030)
    enrich = make_enricher(service)
    start = anyio.current_time()
    event = await enrich(Event(0.0, "auth", "info", 2))
    assert event.region == "us-east"
    assert anyio.current_time() - start == pytest.approx(0.030)
    assert (service.calls, service.completed) == (1, 1)
    assert (await service.lookup(99)) == "unknown"


def test_region_service_rejects_negative_latency() -> None:
    with pytest.raises(ValueError, match="latency"):
        RegionService(latency=-1)


def test_summarize_counts_by_type_and_region() -> None:
    items = [
        Event(0, "order", "info", 1, "eu-west"),
        Event(0, "order", "warn", 2, "us-east"),
        Event(0, "search", "error", 4, "eu-west"),
    ]
    window = Window(10.0, 12.0, items, count=3)
    s = summarize(window, index=5, origin=10.0, buffer_load=(3, 0), partial=True)
    assert (s.index, s.start, s.end, s.count) == (5, 0.0, 2.0, 3)
    assert s.by_type == {"order": 2, "search": 1}
    assert s.by_region == {"eu-west": 2, "us-east": 1}
    record = s.as_dict()
    assert record["event"] == "window"
    assert record["buffer_load"] == [3, 0]
    assert record["partial"] is True
