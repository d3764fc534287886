"""Separate processes racing on one database never claim the same job twice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

from jobs import JobStatus, JobStore
from jobs.testing import enqueue

CLAIMER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from jobs import JobStore
    from jobs.testing import PLACEHOLDER

    async def main(data_dir, worker_id):
        claimed = []
        async with await JobStore.open(Path(data_dir)) as store:
            print("ready", flush=True)
            sys.stdin.readline()  # start together, so the claims really race
            while (job := await store.claim(worker_id)) is not None:
                claimed.append(job.id)
                await store.report_progress(job.id, worker_id, iteration=1, total=1, loss=0.0)
                assert await store.finish(job.id, PLACEHOLDER, worker_id=worker_id)
        print(json.dumps(claimed))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_processes_claim_each_job_exactly_once(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        jobs = [await enqueue(store, user_id=i % 7) for i in range(120)]
    procs = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", CLAIMER, str(data), f"w{n}"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in range(3)
    ]
    for proc in procs:
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    outputs = await asyncio.gather(*(p.communicate(b"go\n") for p in procs))
    assert [p.returncode for p in procs] == [0, 0, 0]
    per_process = [json.loads(out) for out, _ in outputs]
    claimed = [job_id for ids in per_process for job_id in ids]
    assert sorted(claimed) == sorted(j.id for j in jobs)  # all of them, none twice
    async with await JobStore.open(data) as store:
        done = await store.list_jobs([JobStatus.DONE], limit=1000)
        assert len(done) == 120 and {j.attempts for j in done} == {1}


async def test_coroutines_sharing_one_store_do_not_mix_transactions(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        await asyncio.gather(*(enqueue(store, user_id=i) for i in range(30)))
        claims = await asyncio.gather(*(store.claim(f"w{i}") for i in range(40)))
        ids = [job.id for job in claims if job is not None]
        assert len(ids) == 30 and len(set(ids)) == 30
