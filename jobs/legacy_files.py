"""Upgrades from versions that kept job files on disk (DATA_DIR/jobs/<id>/): on open, every
folder of a job whose files were not cleaned up yet moves into `job_files`, then the folders
go. Safe when the bot and the engine open the store at the same moment (inserts that find the
file already there change nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from jobs.backends.database import Database

log = logging.getLogger(__name__)

_IMPORT = """
INSERT INTO job_files (job_id, name, data, size, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (job_id, name) DO NOTHING
"""


async def import_job_folders(db: Database, data_dir: Path, now: float) -> int:
    """Move old job folders into the database; returns how many folders were imported."""
    root = data_dir / "jobs"
    folders = await asyncio.to_thread(_job_folders, root)
    imported = 0
    for job_id, folder in folders:
        row = await db.one("SELECT files_deleted_at FROM jobs WHERE id = ?", (job_id,))
        if row is not None and row["files_deleted_at"] is None:
            files = await asyncio.to_thread(_read_folder, folder)
            async with db.transaction() as tx:
                for name, data in files.items():
                    await tx.run(_IMPORT, (job_id, name, data, len(data), now))
            imported += 1
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
    if folders:
        await asyncio.to_thread(_remove_if_empty, root)
        log.info("moved the files of %d jobs from %s into the database", imported, root)
    return imported


def _job_folders(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    return sorted((int(p.name), p) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _remove_if_empty(root: Path) -> None:
    with contextlib.suppress(OSError):  # something else lives there: leave it
        root.rmdir()
