"""Moving house: copy a SQLite installation's job table into PostgreSQL (`python -m jobs migrate`).

Everything that is not a live process is copied: jobs in every state (with their ids, so the
buttons of old messages still work) and their files, users (settings and bans) and the control
switches.
Painters are not: they register themselves when they start against the new database, and a
job that was RUNNING under an old painter goes back to the queue there (recover_stale).

Idempotent: rows already in the target (same id; for jobs also the same chat and request)
are left alone, so an interrupted copy can simply be run again. A target holding a
DIFFERENT job under a copied id is refused before anything of that batch is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from jobs.backends.database import Database, Row, Tx
from jobs.backends.opening import open_database

# Tables in copy order (jobs before anything that refers to them) and rows per transaction.
TABLES: tuple[tuple[str, int], ...] = (
    ("control", 500),
    ("users", 500),
    ("jobs", 200),
    ("job_files", 8),  # photos, previews, results: a few MB each at most
)
KEYS = {
    "control": ("key",),
    "users": ("user_id",),
    "jobs": ("id",),
    "job_files": ("job_id", "name"),
}


class MoveConflict(RuntimeError):
    """The target already holds different data under the same keys."""


@dataclass
class TableSummary:
    copied: int = 0
    present: int = 0  # already in the target (an earlier run)
    by_status: Counter[str] = field(default_factory=Counter)


@dataclass
class MoveSummary:
    source: str
    target: str
    tables: dict[str, TableSummary] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"from {self.source}", f"to   {self.target}"]
        for name, table in self.tables.items():
            line = f"{name}: {table.copied} copied, {table.present} already there"
            if table.by_status:
                states = ", ".join(f"{n} {s}" for s, n in sorted(table.by_status.items()))
                line += f" (copied: {states})"
            out.append(line)
        if self.tables.get("jobs") and self.tables["jobs"].by_status.get("running"):
            out.append(
                "running jobs go back to the queue when the first painter starts on the new "
                "database (their painters are not moved)"
            )
        return out


CONNECT_FOR = 15.0  # seconds to wait for an unreachable target before giving up


async def move(data_dir: Path, target_url: str) -> MoveSummary:
    """Copy DATA_DIR/picasso.db into the PostgreSQL at `target_url` (both migrated first)."""
    source = await open_database(data_dir, None)
    try:
        target = await open_database(data_dir, target_url, connect_retry_for=CONNECT_FOR)
        try:
            summary = MoveSummary(source.description, target.description)
            for table, batch in TABLES:
                summary.tables[table] = await _copy_table(source, target, table, batch)
            async with target.transaction() as tx:
                await tx.execute(target.dialect.reset_ids("jobs"))
            return summary
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy_table(source: Database, target: Database, table: str, batch: int) -> TableSummary:
    summary = TableSummary()
    keys = KEYS[table]
    order = ", ".join(keys)
    offset = 0
    while True:
        rows = await source.all(
            f"SELECT * FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (batch, offset)
        )
        if not rows:
            return summary
        offset += len(rows)
        async with target.transaction() as tx:
            for row in rows:
                if await _insert(tx, table, row):
                    summary.copied += 1
                    if table == "jobs":
                        summary.by_status[row["status"]] += 1
                else:
                    summary.present += 1
            if table == "jobs":
                await _check_same_jobs(tx, rows)


async def _insert(tx: Tx, table: str, row: Row) -> bool:
    columns = list(row.keys())  # type: ignore[attr-defined]
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    return await tx.run(sql, [row[c] for c in columns]) > 0


async def _check_same_jobs(tx: Tx, rows: list[Row]) -> None:
    """Every copied id must now name the same request in the target (a job from elsewhere
    under that id, or this request under another id, would mix two installations)."""
    ids = [row["id"] for row in rows]
    marks = ", ".join("?" * len(ids))
    found = await tx.all(
        f"SELECT id, chat_id, request_message_id FROM jobs WHERE id IN ({marks})", ids
    )
    there = {r["id"]: (r["chat_id"], r["request_message_id"]) for r in found}
    for row in rows:
        if there.get(row["id"]) != (row["chat_id"], row["request_message_id"]):
            raise MoveConflict(
                f"the target already has a different job #{row['id']} (or this job under "
                "another id): it is not a copy of this installation; refusing to mix them"
            )
