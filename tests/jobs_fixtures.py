"""Fixtures for job-table tests: a hand-moved clock and a store on a fresh database, run once
per backend (the embedded SQLite and PostgreSQL) through `database_url`."""

from __future__ import annotations

from typing import Any

import pytest

from jobs import JobStore
from jobs.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store_options() -> dict[str, Any]:
    """Extra JobStore.open arguments; a test module may override this fixture."""
    return {}


@pytest.fixture
async def store(tmp_path, clock, database_url, store_options):
    """A JobStore on a new database (SQLite in tmp_path/data, or PostgreSQL), timed by
    `clock` (tests may override)."""
    async with await JobStore.open(
        tmp_path / "data", database_url=database_url, clock=clock, **store_options
    ) as store:
        yield store
