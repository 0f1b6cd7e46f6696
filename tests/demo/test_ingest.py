"""The resilient-ingestion reference scenario, on the virtual clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anystream.demo.ingest import run_ingest

pytestmark = pytest.mark.anyio


async def test_500_events_all_accounted_for_and_written_once() -> None:
    report = await run_ingest(500)
    assert report.accounted
    assert report.exactly_once
    assert set(report.dead_lettered) == {13, 377}
    assert all("PermissionError" in reason for reason in report.dead_lettered.values())
    assert report.retried > 0
    assert report.max_queue_depth <= 50
    # The ledger balances for every operator at the end of the run.
    assert all("in-flight=0" in row for row in report.ledger)


async def test_an_abort_mid_run_is_replayed_without_duplicates() -> None:
    report = await run_ingest(300, abort_after=100)
    assert report.accounted
    assert report.exactly_once
    assert report.written == 300 - len(report.dead_lettered)


@settings(max_examples=10, deadline=None)
@given(
    failure_rate=st.floats(min_value=0.0, max_value=0.5),
    abort_after=st.one_of(st.none(), st.integers(min_value=1, max_value=80)),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_fault_injection_never_loses_or_duplicates(
    failure_rate: float, abort_after: int | None, seed: int
) -> None:
    report = await run_ingest(
        80, seed=seed, failure_rate=failure_rate, abort_after=abort_after, retries=3
    )
    # Every event is written or dead-lettered (transient failures can exhaust retries).
    assert report.accounted
    assert report.exactly_once


def test_the_cli_runs_the_scenario() -> None:
    from anystream.cli import main

    assert main(["demo", "ingest", "--virtual-clock", "--events", "60", "--backend", "trio"]) == 0
