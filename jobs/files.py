"""A job's files (the photo, an uploaded painting, the preview, the result, extras such as the
timelapse frames) live in the job table, in `job_files`.

Why in the database: a painter on another host, given only the database, can paint any job, and
the bot and the engine share nothing else: no folder to mount, no second path to keep in step.
Files are small enough for it (a result at MAX_IMAGE_SIZE is a few MB of PNG). They go with
retention cleanup, which also gives the space back (`Database.reclaim_space`).
"""

from __future__ import annotations

from collections.abc import Mapping

from jobs.backends.database import Tx
from jobs.base import StoreBase
from jobs.models import check_file_name

PREVIEW_NAME = "preview.jpg"
RESULT_NAME = "result.png"

_INSERT = "INSERT INTO job_files (job_id, name, data, size, created_at)"
_REPLACE = """
ON CONFLICT (job_id, name) DO UPDATE SET
    data = excluded.data, size = excluded.size, created_at = excluded.created_at
"""
_UPSERT = f"{_INSERT} VALUES (?, ?, ?, ?, ?){_REPLACE}"


class JobFiles(StoreBase):
    async def read_file(self, job_id: int, name: str) -> bytes | None:
        """The file's bytes; None if the job has no such file (never had, or cleaned up)."""
        row = await self._db.one(
            "SELECT data FROM job_files WHERE job_id = ? AND name = ?", (job_id, name)
        )
        return None if row is None else bytes(row["data"])

    async def file_names(self, job_id: int) -> list[str]:
        rows = await self._db.all(
            "SELECT name FROM job_files WHERE job_id = ? ORDER BY name", (job_id,)
        )
        return [row["name"] for row in rows]

    async def write_file(
        self, job_id: int, name: str, data: bytes, *, worker_id: str | None = None
    ) -> bool:
        """Add or replace a file of an existing job. With worker_id, only while that worker is
        running the job (a painter that lost its job must not overwrite anything)."""
        check_file_name(name)
        async with self._db.transaction() as tx:
            owner = " AND status = 'running' AND worker_id = ?" if worker_id is not None else ""
            row = await tx.one(
                f"SELECT id FROM jobs WHERE id = ?{owner}",
                (job_id, *(() if worker_id is None else (worker_id,))),
            )
            if row is None:
                return False
            await self._put_files(tx, job_id, {name: data})
            return True

    @staticmethod
    def _upsert_files_sql(job_id: str, source: str, count: int) -> str:
        """An INSERT of `count` files for the job `job_id` (an SQL expression over the table
        `source`, e.g. a WITH query's rows), for chaining into one statement; its parameters
        come from _file_params."""
        rows = ", ".join(["(?::text, ?::bytea, ?::bigint, ?::double precision)"] * count)
        return (
            f"{_INSERT} SELECT {job_id}, f.name, f.data, f.size, f.created_at "
            f"FROM {source}, (VALUES {rows}) AS f (name, data, size, created_at){_REPLACE}"
        )

    @staticmethod
    def _file_params(files: Mapping[str, bytes], now: float) -> list:
        params: list = []
        for name, data in files.items():
            check_file_name(name)
            blob = bytes(data)
            params += [name, blob, len(blob), now]
        return params

    async def _put_files(self, tx: Tx, job_id: int, files: Mapping[str, bytes]) -> None:
        now = self._now()
        for name, data in files.items():
            check_file_name(name)
            blob = bytes(data)
            await tx.run(_UPSERT, (job_id, name, blob, len(blob), now))

    async def _delete_files(self, job_ids: list[int]) -> None:
        """Drop the files of these jobs and give the space back to the operating system."""
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            async with self._db.transaction() as tx:
                await tx.run(f"DELETE FROM job_files WHERE job_id IN ({marks})", chunk)
                await tx.run(
                    f"UPDATE jobs SET files_deleted_at = ? WHERE id IN ({marks})",
                    (self._now(), *chunk),
                )
        if job_ids:
            await self._db.reclaim_space()
