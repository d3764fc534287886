"""Schema migrations upgrade an existing database in place, rows intact (both backends)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3

import asyncpg
import pytest

from jobs import EngineInfo, JobOptions, JobStatus, JobStore, StyleRef, UserSettings
from jobs.backends.opening import open_database
from jobs.backends.schema import LATEST
from jobs.cost import PainterSpeed
from jobs.testing import new_job


async def make_v1_db(data, url) -> None:
    """A database as the first release left it: schema 1 and some rows."""
    db = await open_database(data, url, migrate_to=1)
    try:
        await db.run(
            """
            INSERT INTO jobs (user_id, user_name, chat_id, chat_type, request_message_id,
                              reply_to_message_id, content_name, styles, options, status,
                              created_at, attempts)
            VALUES (7, 'old user', -3, 'group', 100, 99, 'content.jpg',
                    '[{"preset": "monet", "image": null, "weight": 1.0}]',
                    '{"size": 256, "iterations": null, "strength": null,
                      "preserve_colors": null, "seed": null}',
                    'queued', 1000.0, 0),
                   (8, 'done user', 8, 'private', 5, 4, 'content.jpg',
                    '[{"preset": null, "image": "style-0.png", "weight": 2.0}]', '{}',
                    'done', 900.0, 1)
            """
        )
        await db.run(
            "INSERT INTO engines (worker_id, pid, hostname, device, started_at, last_seen)"
            " VALUES ('old', 1, 'host', 'cpu', 1.0, 1.0)"
        )
        await db.run("INSERT INTO control (key, value) VALUES ('paused', '0')")
    finally:
        await db.close()
    if url is None:  # as versions before migration 5 made it: no incremental vacuum
        con = sqlite3.connect(data / "picasso.db", isolation_level=None)
        con.execute("PRAGMA auto_vacuum = NONE")
        con.execute("VACUUM")
        con.close()


def pragma(path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


async def schema_state(data, url) -> tuple[int, set[str]]:
    """(version, names of tables and indexes), read with the backend's own driver."""
    if url is None:
        con = sqlite3.connect(data / "picasso.db")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            rows = con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
            return version, {name for (name,) in rows}
        finally:
            con.close()
    con = await asyncpg.connect(url)
    try:
        names = await con.fetch(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
            "UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        )
        version = 0
        if "schema_version" in {r["name"] for r in names}:
            version = await con.fetchval("SELECT MAX(version) FROM schema_version") or 0
        return version, {r["name"] for r in names}
    finally:
        await con.close()


async def test_upgrade_moves_job_folders_into_the_database(tmp_path):
    """Versions before migration 5 kept job files in DATA_DIR/jobs/<id>/: nothing is lost."""
    data = tmp_path / "data"
    await make_v1_db(data, None)  # job 1 queued, job 2 done
    for job_id, files in {
        1: {"content.jpg": b"photo 1"},
        2: {"content.jpg": b"photo 2", "style-0.png": b"own style", "result.png": b"R" * 300_000},
    }.items():
        folder = data / "jobs" / str(job_id)
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)
    (data / "jobs" / "99").mkdir()  # a folder whose job row is gone: dropped
    (data / "jobs" / "99" / "content.jpg").write_bytes(b"orphan")

    async with await JobStore.open(data) as store:
        assert await store.read_file(1, "content.jpg") == b"photo 1"
        assert await store.file_names(2) == ["content.jpg", "result.png", "style-0.png"]
        assert await store.read_file(2, "result.png") == b"R" * 300_000
        assert await store.file_names(99) == []
    assert not (data / "jobs").exists()
    async with await JobStore.open(data) as store:  # a second open imports nothing twice
        assert await store.file_names(1) == ["content.jpg"]


async def test_upgrade_from_version_1_keeps_rows_and_adds_schema(tmp_path, empty_database_url):
    data, url = tmp_path / "data", empty_database_url
    await make_v1_db(data, url)
    version, names = await schema_state(data, url)
    assert version == 1 and "users" not in names

    async with await JobStore.open(data, database_url=url) as store:
        version, names = await schema_state(data, url)
        assert version == LATEST
        assert {"users", "jobs_user_started", "jobs_undelivered"} <= names
        queued, done = sorted(await store.list_jobs(), key=lambda j: j.id)
        assert (queued.user_id, queued.user_name, queued.chat_type) == (7, "old user", "group")
        assert queued.styles == (StyleRef(preset="monet"),)
        assert queued.options == JobOptions(size=256)
        assert queued.files_deleted_at is None
        assert done.status is JobStatus.DONE and done.attempts == 1
        assert done.styles == (StyleRef(image="style-0.png", weight=2),)
        assert [(e.worker_id, e.speed) for e in await store.engines()] == [("old", None)]
        if url is None:  # converted once: cleanup can shrink it
            assert pragma(data / "picasso.db", "auto_vacuum") == 2
        # the new schema works on old data
        assert await store.set_user_settings(7, size=512) == UserSettings(size=512)
        assert (await store.claim("w")).id == queued.id
        # the old painter's row takes a measured speed (migration 10)
        speed = PainterSpeed(((256, 0.1), (2048, 8.0)), 300, 2000, 256)
        assert await store.heartbeat("old", None, speed)
        assert [e.speed for e in await store.engines()] == [speed]


async def test_reopening_is_a_no_op_and_concurrent_opens_migrate_once(tmp_path, empty_database_url):
    data, url = tmp_path / "data", empty_database_url
    stores = await asyncio.gather(*(JobStore.open(data, database_url=url) for _ in range(4)))
    for store in stores:
        await store.close()
    assert (await schema_state(data, url))[0] == LATEST
    async with await JobStore.open(data, database_url=url):
        assert (await schema_state(data, url))[0] == LATEST


async def test_stores_opening_a_new_sqlite_database_at_once_all_get_in(tmp_path):
    """As the bot and a painter starting together on a new install: switching the new file to
    WAL met "database is locked" (SQLite skips its busy handler there) in about 1 start in 10."""
    for attempt in range(20):
        data = tmp_path / f"data{attempt}"
        stores = await asyncio.gather(*(JobStore.open(data) for _ in range(4)))
        for store in stores:
            await store.close()


async def test_newer_database_is_refused(tmp_path, empty_database_url):
    data, url = tmp_path / "data", empty_database_url
    async with (
        await JobStore.open(data, database_url=url) as store,
        store._db.transaction() as tx,
    ):
        await tx.set_schema_version(LATEST + 1)
    with pytest.raises(RuntimeError, match="newer than this code"):
        await JobStore.open(data, database_url=url)


async def test_a_failing_migration_rolls_back(tmp_path, monkeypatch, empty_database_url):
    from jobs.backends import schema

    data, url = tmp_path / "data", empty_database_url
    await make_v1_db(data, url)
    broken = [*schema.MIGRATIONS[:1], ["CREATE TABLE users (x INTEGER)", "THIS IS NOT SQL"]]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "LATEST", 2)
    with pytest.raises((sqlite3.OperationalError, asyncpg.PostgresSyntaxError)):
        await JobStore.open(data, database_url=url)
    version, names = await schema_state(data, url)
    assert version == 1 and "users" not in names


async def test_upgrade_from_version_7_adds_languages(tmp_path, empty_database_url):
    """Migration 8 (#30): users keep their settings and gain a language; old jobs read as
    English (NULL), new ones keep the language they were asked in."""
    data, url = tmp_path / "data", empty_database_url
    await make_v1_db(data, url)
    db = await open_database(data, url, migrate_to=7)
    try:
        await db.run(
            "INSERT INTO users (user_id, size, strength, preserve_colors, banned)"
            " VALUES (7, 768, 1.5, 1, 0)"
        )
    finally:
        await db.close()
    assert (await schema_state(data, url))[0] == 7
    async with await JobStore.open(data, database_url=url) as store:
        assert (await schema_state(data, url))[0] == LATEST >= 8
        assert await store.get_user_settings(7) == UserSettings(768, 1.5, True, None)
        assert all(job.language is None for job in await store.list_jobs())
        saved = await store.set_user_settings(7, language="pt_BR")
        assert saved == UserSettings(768, 1.5, True, "pt_BR")
        new = dataclasses.replace(new_job(7), language="ru")
        job, _ = await store.enqueue(new, {"content.jpg": b"x"})
        assert job.language == "ru" and (await store.get(job.id)).language == "ru"


async def test_upgrade_from_version_8_adds_why_a_gpu_is_unused(tmp_path, empty_database_url):
    """Migration 9 (#28): a painter registered before it reads as having nothing to say; one
    registered after keeps why its GPU is unused, and registering again without one clears it."""
    data, url = tmp_path / "data", empty_database_url
    await make_v1_db(data, url)  # holds the engine "old"
    db = await open_database(data, url, migrate_to=8)
    await db.close()
    assert (await schema_state(data, url))[0] == 8
    async with await JobStore.open(data, database_url=url) as store:
        assert (await schema_state(data, url))[0] == LATEST >= 9
        [old] = await store.engines()
        assert (old.worker_id, old.gpu_unused) == ("old", None)
        why = "NVIDIA driver 535.104.05 found but this torch (CUDA 13.0) needs 580+"
        info = EngineInfo("new", 2, "host", "cpu, fp32", None, gpu_unused=why)
        await store.register_engine(info)  # the old one, long silent, makes way
        assert [(e.worker_id, e.gpu_unused) for e in await store.engines()] == [("new", why)]
        info.gpu_unused = None
        await store.register_engine(info)
        assert [(e.worker_id, e.gpu_unused) for e in await store.engines()] == [("new", None)]
