"""Separate processes racing on one database never claim the same job twice, and the fair
order holds while they race (on both backends)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections import defaultdict

import asyncpg

from jobs import JobStatus, JobStore
from jobs.testing import enqueue

CLAIMER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from jobs import JobStore
    from jobs.testing import PLACEHOLDER

    async def main(data_dir, worker_id, url):
        claimed = []
        async with await JobStore.open(Path(data_dir), database_url=url or None) as store:
            print("ready", flush=True)
            sys.stdin.readline()  # start together, so the claims really race
            while (job := await store.claim(worker_id)) is not None:
                claimed.append(job.id)
                await store.report_progress(job.id, worker_id, iteration=1, total=1, loss=0.0)
                assert await store.finish(job.id, PLACEHOLDER, worker_id=worker_id)
        print(json.dumps(claimed))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    """
)
PAINTERS = 4
USERS = 7


async def race(data, url: str | None, painters: int) -> list[list[int]]:
    """Start `painters` claimer processes at once; the job ids each one claimed."""
    procs = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", CLAIMER, str(data), f"w{n}", url or ""),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in range(painters)
    ]
    for proc in procs:
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    outputs = await asyncio.gather(*(p.communicate(b"go\n") for p in procs))
    assert [p.returncode for p in procs] == [0] * painters
    return [json.loads(out) for out, _ in outputs]


async def test_processes_claim_each_job_exactly_once_in_fair_order(tmp_path, database_url):
    data = tmp_path / "data"
    async with await JobStore.open(data, database_url=database_url) as store:
        jobs = [await enqueue(store, user_id=i % USERS) for i in range(120)]
    per_process = await race(data, database_url, PAINTERS)
    claimed = [job_id for ids in per_process for job_id in ids]
    assert sorted(claimed) == sorted(j.id for j in jobs)  # all of them, none twice
    async with await JobStore.open(data, database_url=database_url) as store:
        done = await store.list_jobs([JobStatus.DONE], limit=1000)
    assert len(done) == 120 and {j.attempts for j in done} == {1}
    # Round-robin while racing: a user's (r+2)-th job never starts before every user's r-th
    # job has (one round of slack: claims in flight at the same moment).
    rounds: dict[int, int] = {}
    seen: dict[int, int] = defaultdict(int)
    for job in sorted(jobs, key=lambda j: j.id):
        rounds[job.id] = seen[job.user_id]
        seen[job.user_id] += 1
    started = [rounds[j.id] for j in sorted(done, key=lambda j: (j.started_at, j.id))]
    for position, this_round in enumerate(started):
        later_min = min(started[position:])
        assert this_round <= later_min + 1, f"round {this_round} ran before a round {later_min}"


async def test_coroutines_sharing_one_store_do_not_mix_transactions(tmp_path, database_url):
    async with await JobStore.open(tmp_path / "data", database_url=database_url) as store:
        await asyncio.gather(*(enqueue(store, user_id=i) for i in range(30)))
        claims = await asyncio.gather(*(store.claim(f"w{i}") for i in range(40)))
        ids = [job.id for job in claims if job is not None]
        assert len(ids) == 30 and len(set(ids)) == 30


async def test_a_head_another_painter_is_claiming_is_passed_over_not_waited_for(tmp_path, pg_url):
    """PostgreSQL: while one transaction holds the first head's row lock (a painter in the
    middle of claiming it), a claim takes the next user's head at once; it neither waits for
    the lock nor takes the locked user's second job, and the head is claimable afterwards."""
    async with await JobStore.open(tmp_path / "data", database_url=pg_url) as store:
        first = await enqueue(store, user_id=1)
        await enqueue(store, user_id=1)  # the same user's next job: not a head yet
        other = await enqueue(store, user_id=2)
        conn = await asyncpg.connect(pg_url)
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", first.id)
                claimed = await asyncio.wait_for(store.claim("w1"), 5)
                assert claimed is not None and claimed.id == other.id
                assert await asyncio.wait_for(store.claim("w2"), 5) is None
        finally:
            await conn.close()
        assert (await store.claim("w2")).id == first.id
