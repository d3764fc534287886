"""Fixtures for job-table tests: a hand-moved clock and a store on a fresh database."""

from __future__ import annotations

import pytest

from jobs import JobStore
from jobs.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path, clock):
    """A JobStore on a new database in tmp_path/data, timed by `clock` (tests may override)."""
    async with await JobStore.open(tmp_path / "data", clock=clock) as store:
        yield store
