"""A real PostgreSQL for the tests: one throwaway server per test process (`make test` runs
two, pytest-xdist), one database per test.

The server is started once (jobs/testing_pg.py: initdb + pg_ctl on a free 127.0.0.1 port, as
the `postgres` user when we are root, in a folder of its own from mkdtemp: two processes'
servers share neither) with a database migrated to the latest schema, which
each test copies (`CREATE DATABASE … TEMPLATE`, tens of milliseconds). If the server cannot
start, every test that needs it errors with the server's log: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from jobs.testing_pg import ThrowawayPostgres, free_port

TEMPLATE = "picasso_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """The test run's server, with TEMPLATE holding the latest schema."""
    server = ThrowawayPostgres()
    try:
        server.init().start()
        # In a thread of its own: this fixture may first be needed inside a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, _make_template(server)).result()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A server of the test's own, to stop and start: initialised, its port chosen, NOT
    started (`own_postgres.start()`). Not in tmp_path: the postgres user must reach it."""
    server = ThrowawayPostgres().init()
    server.port = free_port()
    try:
        yield server
    finally:
        server.destroy()


async def _make_template(server: ThrowawayPostgres) -> None:
    from jobs.backends.opening import open_database

    admin = await asyncpg.connect(server.url("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    db = await open_database(None, server.url(TEMPLATE))  # type: ignore[arg-type]
    await db.close()


async def create_database(server: ThrowawayPostgres, *, template: str = TEMPLATE) -> str:
    """A fresh database (a copy of `template`; template0 = empty); returns its URL."""
    name = f"test_{next(_names)}"
    admin = await asyncpg.connect(server.url("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await admin.close()
    return server.url(name)


async def drop_database(server: ThrowawayPostgres, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(server.url("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def pg_url(postgres: ThrowawayPostgres) -> AsyncIterator[str]:
    """The URL of a new PostgreSQL database with the latest schema, dropped afterwards."""
    url = await create_database(postgres)
    yield url
    await drop_database(postgres, url)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request) -> AsyncIterator[str | None]:
    """Each backend in turn: None (the embedded SQLite) or a fresh PostgreSQL database with
    the latest schema."""
    async with _backend(request, TEMPLATE) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request) -> AsyncIterator[str | None]:
    """Each backend in turn, with nothing in it yet (for tests of migrations)."""
    async with _backend(request, "template0") as url:
        yield url


@contextlib.asynccontextmanager
async def _backend(request, template: str) -> AsyncIterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres")
    url = await create_database(server, template=template)
    try:
        yield url
    finally:
        await drop_database(server, url)
