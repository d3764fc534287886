"""How fast is the job table, and what does an idle worker cost? Prints a markdown table.

    .venv/bin/python bench/bench_jobs.py [--jobs 2000] [--idle-seconds 60] [--no-idle]

Everything runs on a real picasso.db in a tmp dir (WAL, synchronous=NORMAL, as in
production). Rates are operations per second of wall time through the async API (one
aiosqlite connection, so they include its thread hop). The idle row starts a real
`python -m engine worker` (DEVICE=cpu, default POLL_SECONDS/HEARTBEAT_SECONDS), waits until
VGG19 is loaded, then reads its CPU time from /proc before and after the idle period.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs import JobStore  # noqa: E402
from jobs.testing import new_job  # noqa: E402

TARGET_CYCLES = 500  # claim+complete per second, from the issue


PHOTO = b"x" * 2048  # not an image: a job the worker fails fast
RESULT = b"r" * 2048


async def enqueue_many(store: JobStore, count: int, users: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        await store.enqueue(new_job(i % users), {"content.jpg": PHOTO})
    return time.perf_counter() - start


async def claim_complete(store: JobStore, count: int, *, progress: int = 0) -> float:
    start = time.perf_counter()
    for _ in range(count):
        job = await store.claim("bench")
        assert job is not None
        for i in range(progress):
            await store.report_progress(job.id, "bench", iteration=i, total=progress, loss=1.0)
        await store.finish(job.id, RESULT, worker_id="bench")
    return time.perf_counter() - start


async def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        await fn()
    return (time.perf_counter() - start) / repeat


CLAIMER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from jobs import JobStore

    async def main(data, worker_id, count):
        async with await JobStore.open(Path(data)) as store:
            print("ready", flush=True)
            sys.stdin.readline()
            done = 0
            while done < count and (job := await store.claim(worker_id)) is not None:
                await store.finish(job.id, b"r" * 2048, worker_id=worker_id)
                done += 1
        print(done, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def two_process_cycles(data: Path, count: int) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(data), f"p{n}", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    done = sum(int(proc.communicate()[0].strip()) for proc in procs)
    return time.perf_counter() - start, done


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (no psutil)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_worker_cost(root: Path, seconds: float) -> tuple[float, float]:
    """(CPU seconds per minute, seconds to wake up for a new job) of an idle worker."""
    data = root / "idle"
    log = root / "idle-worker.log"
    env = {k: v for k, v in os.environ.items() if k not in ("POLL_SECONDS", "HEARTBEAT_SECONDS")}
    env.update(DATA_DIR=str(data), DEVICE="cpu", PYTHONPATH=str(REPO), IMAGE_SIZE="32")
    env.update(ITERATIONS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while "ready on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(2)  # let start-up work (recovery, first cleanup) settle
        before, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(proc.pid) - before, time.monotonic() - t0
        wake = asyncio.run(_wake_up_latency(data))
        return used / elapsed * 60, wake
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def _wake_up_latency(data: Path) -> float:
    """Enqueue one job into the idle worker's queue; seconds until it is claimed."""
    async with await JobStore.open(data) as store:
        job, _ = await store.enqueue(new_job(1), {"content.jpg": PHOTO})
        start = time.perf_counter()
        while (await store.get(job.id)).started_at is None:  # noqa: ASYNC110 (polling the db)
            await asyncio.sleep(0.01)
        return time.perf_counter() - start


async def table_benchmarks(root: Path, jobs: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    async with await JobStore.open(root / "a") as store:
        seconds = await enqueue_many(store, jobs, users=50)
        rows.append(("enqueue (with a 2 KiB photo)", f"{jobs / seconds:,.0f}/s", ""))
        seconds = await claim_complete(store, jobs)
        rate = jobs / seconds
        verdict = "OK" if rate >= TARGET_CYCLES else "BELOW TARGET"
        rows.append(
            (
                f"claim + finish, backlog {jobs} → 0, 50 users",
                f"{rate:,.0f} cycles/s",
                f"target ≥ {TARGET_CYCLES}: {verdict}",
            )
        )
        await enqueue_many(store, jobs, users=50)
        cycles = jobs // 4
        seconds = await claim_complete(store, cycles, progress=5)
        rows.append(
            (
                "claim + 5 progress reports + finish",
                f"{cycles / seconds:,.0f} jobs/s",
                f"{cycles * 5 / seconds:,.0f} reports/s incl. claims",
            )
        )
        left = jobs - cycles
        per_call = await timed(store.queue_positions, 20)
        rows.append((f"queue_positions(), {left} queued", f"{per_call * 1000:.2f} ms", ""))
        job_id = (await store.queue_order())[-1]
        per_call = await timed(lambda: store.eta_seconds(job_id), 20)
        rows.append((f"eta_seconds() of the last of {left}", f"{per_call * 1000:.2f} ms", ""))
        await claim_complete(store, left)
        per_call = await timed(lambda: store.changed_since(time.time()), 200)
        rows.append(("changed_since(now) (the notifier's poll)", f"{per_call * 1e6:.0f} µs", ""))
        per_call = await timed(lambda: store.claim("bench"), 500)
        rows.append(("claim() on an empty queue (idle poll)", f"{per_call * 1e6:.0f} µs", ""))
    async with await JobStore.open(root / "b") as store:
        await enqueue_many(store, jobs, users=50)
    seconds, done = two_process_cycles(root / "b", jobs)
    rows.append(
        (
            "claim + finish, 2 processes racing",
            f"{done / seconds:,.0f} cycles/s",
            f"{done} claimed, each once",
        )
    )
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    """The rows as a markdown table, and the machine's state (load) under it."""
    print("| operation | result | note |\n|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs, load average {load}, Python {sys.version.split()[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-worker row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        root = Path(tmp)
        rows = asyncio.run(table_benchmarks(root, args.jobs))
        if not args.no_idle:
            per_minute, wake = idle_worker_cost(root, args.idle_seconds)
            rows.append(
                (
                    f"idle worker, {args.idle_seconds:.0f} s measured",
                    f"{per_minute:.3f} CPU s/min",
                    f"{per_minute / 60 * 100:.2f}% of a core; new job claimed in {wake:.2f} s",
                )
            )
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
