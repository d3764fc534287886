"""The job table on PostgreSQL beside SQLite: racing painters, wake-up latency, big results.

    .venv/bin/python -m bench.bench_postgres [--jobs 2000] [--users 50] [--samples 40]

Starts a throwaway PostgreSQL (jobs/testing_pg.py: local TCP with a password, durability
off as in the tests, so commits cost what the protocol costs, not what the disk does) and
measures, for each backend:
- claim + finish per second with 1 and with 4 painter processes racing on one queue of
  --jobs jobs from --users users (a claim costs per waiting user, not per queued job);
- enqueue -> claimed latency for an idle painter (the worker's idle loop: clear the wake-up,
  claim, wait for a wake-up or POLL_SECONDS=0.5), median and 90th percentile;
- the round trip of a 5 MB result (finish with the bytes, then read them back), when the
  store keeps job files.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_jobs import print_table  # noqa: E402
from jobs import JobStore  # noqa: E402
from jobs.testing import enqueue  # noqa: E402
from jobs.testing_pg import ThrowawayPostgres  # noqa: E402

POLL_SECONDS = 0.5  # the worker's default
TARGET_RACING = 1000  # claim + finish per second with 4 painters (issue #7)
TARGET_WAKE_MS = 20  # median enqueue -> claimed with NOTIFY (issue #7)

CLAIMER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from jobs import JobStore

    async def main(data, url, worker_id, mode):
        async with await JobStore.open(Path(data), database_url=url or None) as store:
            print("ready", flush=True)
            if mode == "drain":
                sys.stdin.readline()
                done = 0
                while (job := await store.claim(worker_id)) is not None:
                    await store.finish(job.id, b"png", worker_id=worker_id)
                    done += 1
                print(done, flush=True)
                return
            new_work = store.wake_on_queue()  # the worker's idle loop
            while True:
                new_work.clear()
                job = await store.claim(worker_id)
                if job is None:
                    await new_work.wait(float(mode))
                    continue
                if job.user_id == 0:
                    return
                await store.finish(job.id, b"png", worker_id=worker_id)

    asyncio.run(main(*sys.argv[1:5]))
    """
)


def spawn(data: Path, url: str | None, worker_id: str, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, str(data), url or "", worker_id, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


async def fill(data: Path, url: str | None, jobs: int, users: int = 50) -> None:
    async with await JobStore.open(data, database_url=url) as store:
        for i in range(jobs):
            await enqueue(store, user_id=1 + i % users)


def racing(data: Path, url: str | None, painters: int) -> tuple[float, int]:
    """(claim+finish per second, jobs done) with `painters` processes draining the queue."""
    procs = [spawn(data, url, f"p{n}", "drain") for n in range(painters)]
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    done = sum(int(proc.communicate()[0].strip()) for proc in procs)
    return done / (time.perf_counter() - start), done


async def wake_up_latency(data: Path, url: str | None, samples: int) -> list[float]:
    """Seconds from enqueue to claim (the row's created_at -> started_at), idle painter."""
    proc = spawn(data, url, "idle", str(POLL_SECONDS))
    latencies = []
    try:
        async with await JobStore.open(data, database_url=url) as store:
            for i in range(samples):
                await asyncio.sleep(0.05 + (i % 7) * 0.037)  # land anywhere in a poll period
                job = await enqueue(store, user_id=1)
                while (now := await store.get(job.id)).started_at is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
                latencies.append(now.started_at - now.created_at)
            await enqueue(store, user_id=0)  # tells it to stop
    finally:
        proc.wait(timeout=30)
    return latencies


async def result_round_trip(data: Path, url: str | None) -> float | None:
    """Seconds to store a 5 MB result with finish() and read it back, if files live in the
    store (read_file); None otherwise."""
    async with await JobStore.open(data, database_url=url) as store:
        if not hasattr(store, "read_file"):
            return None
        blob = os.urandom(5 * 1024 * 1024)  # incompressible, like a PNG
        job = await enqueue(store, user_id=1)
        await store.claim("rt")
        start = time.perf_counter()
        await store.finish(job.id, blob, worker_id="rt")
        assert await store.read_file(job.id, "result.png") == blob
        return time.perf_counter() - start


async def measure(name: str, root: Path, url: str | None, args) -> list[tuple[str, str, str]]:
    rows = []
    for painters in (1, 4):
        data = root / f"{name}-race{painters}" / "data"
        db = await fresh(url, f"race{painters}")
        await fill(data, db, args.jobs, args.users)
        rate, done = racing(data, db, painters)
        note = f"{done} jobs from {args.users} users, each claimed once"
        if painters == 4 and name == "PostgreSQL":
            note += f"; target ≥ {TARGET_RACING}: {'met' if rate >= TARGET_RACING else 'NOT met'}"
        rows.append((f"{name}: claim + finish, {painters} painter(s)", f"{rate:,.0f}/s", note))
    db = await fresh(url, "wake")
    latencies = await wake_up_latency(root / f"{name}-wake" / "data", db, args.samples)
    median = statistics.median(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[-1] * 1000
    note = f"p90 {p90:.1f} ms, {len(latencies)} samples"
    if name == "PostgreSQL":
        verdict = "met" if median < TARGET_WAKE_MS else "NOT met"
        note += f"; target median < {TARGET_WAKE_MS} ms: {verdict}"
    else:
        note += f" (polling every {POLL_SECONDS} s)"
    rows.append((f"{name}: enqueue → claimed, idle painter", f"{median:.1f} ms median", note))
    seconds = await result_round_trip(root / f"{name}-rt" / "data", await fresh(url, "rt"))
    if seconds is not None:
        rows.append((f"{name}: 5 MB result, finish + read back", f"{seconds * 1000:.0f} ms", ""))
    return rows


async def fresh(url: str | None, name: str) -> str | None:
    """A new PostgreSQL database next to `url` (None: SQLite, a new folder is enough)."""
    if url is None:
        return None
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS bench_{name}")
        await admin.execute(f"CREATE DATABASE bench_{name}")
    finally:
        await admin.close()
    return url.rsplit("/", 1)[0] + f"/bench_{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50, help="the jobs' owners, round-robin")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    server = ThrowawayPostgres().init().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
            root = Path(tmp)
            rows = asyncio.run(measure("SQLite", root, None, args))
            rows += asyncio.run(measure("PostgreSQL", root, server.url(), args))
    finally:
        server.destroy()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
