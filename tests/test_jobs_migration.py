"""Schema migrations upgrade an existing database in place, rows intact."""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite
import pytest

from jobs import JobOptions, JobStatus, JobStore, StyleRef, UserSettings
from jobs.schema import LATEST, configure, migrate


async def make_v1_db(path) -> None:
    """A database as the first release left it: schema 1 and some rows."""
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await configure(db)
        await db.execute("PRAGMA auto_vacuum = NONE")  # as versions before migration 5 made it
        assert await migrate(db, target=1) == 1
        await db.execute(
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
        await db.execute(
            "INSERT INTO engines (worker_id, pid, hostname, device, started_at, last_seen)"
            " VALUES ('old', 1, 'host', 'cpu', 1.0, 1.0)"
        )
        await db.execute("INSERT INTO control (key, value) VALUES ('paused', '0')")


def tables(path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        return {name for (name,) in rows}
    finally:
        con.close()


def pragma(path, name: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


def version(path) -> int:
    return pragma(path, "user_version")


async def test_upgrade_moves_job_folders_into_the_database(tmp_path):
    """Versions before migration 5 kept job files in DATA_DIR/jobs/<id>/: nothing is lost."""
    data = tmp_path / "data"
    data.mkdir()
    await make_v1_db(data / "picasso.db")  # job 1 queued, job 2 done
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


async def test_upgrade_from_version_1_keeps_rows_and_adds_schema(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db_path = data / "picasso.db"
    await make_v1_db(db_path)
    assert version(db_path) == 1
    assert "users" not in tables(db_path)

    async with await JobStore.open(data) as store:
        assert version(db_path) == LATEST
        assert {"users", "jobs_user_started", "jobs_undelivered"} <= tables(db_path)
        queued, done = sorted(await store.list_jobs(), key=lambda j: j.id)
        assert (queued.user_id, queued.user_name, queued.chat_type) == (7, "old user", "group")
        assert queued.styles == (StyleRef(preset="monet"),)
        assert queued.options == JobOptions(size=256)
        assert queued.files_deleted_at is None
        assert done.status is JobStatus.DONE and done.attempts == 1
        assert done.styles == (StyleRef(image="style-0.png", weight=2),)
        assert [e.worker_id for e in await store.engines()] == ["old"]
        assert pragma(db_path, "auto_vacuum") == 2  # converted once: cleanup can shrink it
        # the new schema works on old data
        assert await store.set_user_settings(7, size=512) == UserSettings(size=512)
        assert (await store.claim("w")).id == queued.id


async def test_reopening_is_a_no_op_and_concurrent_opens_migrate_once(tmp_path):
    data = tmp_path / "data"
    stores = await asyncio.gather(*(JobStore.open(data) for _ in range(4)))
    for store in stores:
        await store.close()
    assert version(data / "picasso.db") == LATEST
    async with await JobStore.open(data):
        assert version(data / "picasso.db") == LATEST


async def test_newer_database_is_refused(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data):
        pass
    con = sqlite3.connect(data / "picasso.db")
    con.execute(f"PRAGMA user_version = {LATEST + 1}")
    con.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        await JobStore.open(data)


async def test_a_failing_migration_rolls_back(tmp_path, monkeypatch):
    from jobs import schema

    data = tmp_path / "data"
    data.mkdir()
    await make_v1_db(data / "picasso.db")
    broken = [*schema.MIGRATIONS[:1], ["CREATE TABLE users (x)", "THIS IS NOT SQL"]]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "LATEST", 2)
    with pytest.raises(sqlite3.OperationalError):
        await JobStore.open(data)
    assert version(data / "picasso.db") == 1
    assert "users" not in tables(data / "picasso.db")
