"""Jobs an hour through the real worker and its job table, on whatever device this machine has.

    python -m bench.bench_worker                        # 40 jobs on CUDA, 5 on a CPU
    python -m bench.bench_worker --jobs 24 --users 4
    python -m bench.bench_worker --size 256 --iterations 100 --jobs 3
    python -m bench.bench_worker --database-url postgresql://…   # an EMPTY database

A real `python -m engine worker` (the claim → paint → finish path the bot uses, with its
progress reports every PROGRESS_EVERY, previews and timelapse frames) paints N default jobs
from a job table of its own: SQLite in a temp dir, or the PostgreSQL of `--database-url`
(the queue is paused while the jobs go in, so use a database nobody else uses). The jobs mix
five photos (scikit-image's astronaut, rocket, coffee, chelsea, immunohistochemistry, enlarged
to a long side of `--photo-side` px, 1280 like a Telegram photo, so that the default size is
what gets painted) with five preset paintings from STYLES_DIR (default styles/, `make
styles`; else ../shared/styles), round-robin over `--users` users; the fair order decides who
goes first.

The worker runs at the engine's defaults for its device (the engine variables of this shell
are not passed on) unless `--size` / `--iterations` / `--precision` / `--device` say
otherwise. Reported: jobs an hour (done jobs over the time from unpausing the queue to the
last one finished), seconds per job (started → finished in the table: median, p90, the
first), failures, the device (the CPU's name, or the GPU's as torch names it) and, where
`nvidia-smi` exists, GPU utilisation and memory sampled every 0.5 s while the jobs paint. A
Markdown table goes to stdout, JSON to `--out` (default bench/out/worker.json). Exit codes:
0 all jobs done, 1 a job failed or time ran out, 2 it could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_cpu import _env, _stop  # noqa: E402
from bench.bench_engine import OUT  # noqa: E402
from bench.bench_gpu import default_styles_dirs  # noqa: E402
from bench.machine import cpu_name  # noqa: E402
from engine.painter.settings import EngineSettings  # noqa: E402
from jobs import EngineInfo, Job, JobStatus, JobStore, StyleRef  # noqa: E402
from jobs.painted import PAINTED_NAME, Painted  # noqa: E402
from jobs.testing import new_job  # noqa: E402

PHOTOS = ("astronaut", "rocket", "coffee", "chelsea", "immunohistochemistry")
PAINTINGS = ("starry-night", "monet", "udnie", "great-wave", "scream")
DEFAULT_JOBS = {"cuda": 40, "cpu": 5}  # a CPU: each photo and painting once (2 cores: ~12 min)
SAMPLE_EVERY = 0.5  # seconds between nvidia-smi samples
START_DEADLINE = 600.0  # torch, VGG19 and the precision probe
ENGINE_VARS = {f.alias for f in EngineSettings.model_fields.values()}


def say(message: str = "") -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ inputs


def photo_jpeg(name: str, side: int) -> bytes:
    """A scikit-image photo, enlarged (or shrunk) to a long side of `side`, as a JPEG."""
    import skimage.data
    from PIL import Image

    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    out = io.BytesIO()
    image.resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    return out.getvalue()


def missing_paintings(styles_dir: Path, paintings: tuple[str, ...]) -> list[str]:
    from styles import load_catalogue

    catalogue = load_catalogue()
    return [p for p in paintings if not catalogue.image_path(p, styles_dir).is_file()]


def styles_with_paintings(styles_dir: Path | None) -> tuple[Path, list[str]]:
    """--styles-dir / $STYLES_DIR / styles/, else the shared folder if only it has them all;
    with the paintings the first lacks."""
    dirs = default_styles_dirs(styles_dir)
    for folder in dirs:
        if not missing_paintings(folder, PAINTINGS):
            return folder, []
    return dirs[0], missing_paintings(dirs[0], PAINTINGS)


@dataclass(frozen=True)
class Planned:
    """One job of the mix: who asked, which photo, which painting."""

    user: int
    photo: str
    painting: str


def plan(jobs: int, users: int) -> list[Planned]:
    """Photos and paintings mixed so that any 25 consecutive jobs hold every pair once;
    users take turns (user 1 sends job 1, user 2 job 2, …)."""
    return [
        Planned(
            user=1 + i % users,
            photo=PHOTOS[i % len(PHOTOS)],
            painting=PAINTINGS[(i + i // len(PHOTOS)) % len(PAINTINGS)],
        )
        for i in range(jobs)
    ]


# ------------------------------------------------------------------------------ the GPU


@dataclass
class GpuSampler:
    """`nvidia-smi` every SAMPLE_EVERY seconds in a thread: (unix time, util %, memory MiB)."""

    gpu: str  # what nvidia-smi's --id takes: an index, a UUID or a PCI bus id
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nvidia-smi", daemon=True)

    @staticmethod
    def available() -> bool:
        return shutil.which("nvidia-smi") is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        query = ["nvidia-smi", f"--id={self.gpu}"]
        query += ["--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        while not self._stop.is_set():
            started = time.time()
            try:
                done = subprocess.run(query, capture_output=True, text=True, timeout=5)
                util, memory = (float(v) for v in done.stdout.strip().splitlines()[0].split(","))
                self.samples.append((started, util, memory))
            except Exception as exc:  # a sample lost is reported, never fatal
                self.error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(max(0.0, SAMPLE_EVERY - (time.time() - started)))

    def summary(self, start: float, end: float) -> dict | None:
        """Over the samples taken between `start` and `end`; None if it never ran."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            return None if self.error is None else {"samples": 0, "error": self.error}
        util = [s[1] for s in inside]
        return {
            "samples": len(inside),
            "util_mean": round(statistics.fmean(util), 1),
            "util_max": max(util),
            "memory_used_max_mib": max(s[2] for s in inside),
            "error": self.error,
        }


def nvidia_smi_id(device: str | None) -> str:
    """The GPU the worker's torch calls `device` (cuda:N), as nvidia-smi names it: N, or the
    N-th of CUDA_VISIBLE_DEVICES where that is set (nvidia-smi ignores it)."""
    index = 0
    if device and device.startswith("cuda:") and device[5:].isdigit():
        index = int(device[5:])
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    visible = [v for v in visible if v]
    return visible[index] if index < len(visible) else str(index)


# ------------------------------------------------------------------------------ the worker


def worker_env(args: argparse.Namespace, data: Path) -> dict[str, str]:
    """This shell's environment without the engine's variables, plus what the options set."""
    env = {k: v for k, v in _env().items() if k not in ENGINE_VARS}
    env.update(DATA_DIR=str(data), STYLES_DIR=str(args.styles_dir.resolve()))
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.device:
        env["DEVICE"] = args.device
    if args.precision:
        env["PRECISION"] = args.precision
    if args.size:
        env.update(IMAGE_SIZE=str(args.size), CPU_IMAGE_SIZE=str(args.size))
    if args.iterations:
        env.update(ITERATIONS=str(args.iterations), CPU_ITERATIONS=str(args.iterations))
    return env


async def wait_ready(store: JobStore, proc: asyncio.subprocess.Process, log: Path) -> EngineInfo:
    """The worker's row once it has loaded its model (the device then reads 'hw, precision')."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"the worker exited ({proc.returncode}):\n{tail(log)}")
        for engine in await store.engines():
            if engine.pid == proc.pid and ", " in engine.device:
                return engine
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the worker was not ready in {START_DEADLINE:.0f} s:\n{tail(log)}")


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def describe(engine: EngineInfo) -> dict:
    """'NVIDIA H200 (cuda:0), bf16' / 'cpu, bf16' → what the report says about the device."""
    hardware, _, precision = engine.device.rpartition(", ")
    if hardware.startswith("cpu"):
        return {"kind": "cpu", "name": cpu_name(), "precision": precision}
    name, _, index = hardware.rpartition(" (")
    return {
        "kind": "cuda",
        "name": name or hardware,
        "index": index.rstrip(")") or None,
        "memory_mib": engine.gpu_memory_mb,
        "precision": precision,
    }


async def wait_all(
    store: JobStore, ids: list[int], proc: asyncio.subprocess.Process, within: float
) -> tuple[list[Job], bool]:
    """Every job once it has ended (or as it stands when time ran out or the worker died)."""
    deadline = time.monotonic() + within
    ended: dict[int, Job] = {}
    while True:
        for job_id in ids:
            if job_id not in ended:
                job = await store.get(job_id)
                if job is not None and not job.is_active:
                    ended[job_id] = job
                    seconds = _seconds(job)
                    took = f" in {seconds:.1f} s" if seconds is not None else ""
                    say(f"  job {len(ended)}/{len(ids)}: {job.status.value}{took}")
        if len(ended) == len(ids):
            return [ended[i] for i in ids], True
        if time.monotonic() > deadline or proc.returncode is not None:
            return [ended.get(i) or await store.get(i) for i in ids], False
        await asyncio.sleep(0.5)


def _seconds(job: Job) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return job.finished_at - job.started_at


# ------------------------------------------------------------------------------ the run


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        work = Path(tmp)
        data = work / "data"
        log = work / "worker.log"
        async with await JobStore.open(data, database_url=args.database_url) as store:
            await store.set_paused(True)  # until every job is in: the fair order decides
            with log.open("ab") as stderr:
                proc = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "engine", "worker"),
                    cwd=work,
                    env=worker_env(args, data),
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            try:
                return await _measure(args, store, proc, log)
            finally:
                await _stop(proc)
                await store.set_paused(False)


async def _measure(
    args: argparse.Namespace, store: JobStore, proc: asyncio.subprocess.Process, log: Path
) -> dict:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    engine = await wait_ready(store, proc, log)
    device = describe(engine)
    ready_s = time.monotonic() - started
    say(f"worker ready in {ready_s:.1f} s on {device['name']}, {device['precision']}")
    count = args.jobs or DEFAULT_JOBS[device["kind"]]
    photos = {name: photo_jpeg(name, args.photo_side) for name in PHOTOS}
    mix = plan(count, args.users)
    ids = []
    for item in mix:
        styles = (StyleRef(preset=item.painting),)
        job, _ = await store.enqueue(
            new_job(item.user, styles=styles), {"content.jpg": photos[item.photo]}
        )
        ids.append(job.id)
    sampler = GpuSampler(nvidia_smi_id(device.get("index")))
    if device["kind"] == "cuda" and sampler.available():
        sampler.start()
    unpaused = time.time()
    await store.set_paused(False)
    say(f"{count} jobs from {args.users} users queued; painting")
    try:
        jobs, complete = await wait_all(store, ids, proc, args.timeout)
    finally:
        sampler.stop()
    painted = [await _painted(store, job) for job in jobs]
    finished = [j.finished_at for j in jobs if j.finished_at is not None]
    report = {
        "device": device,
        "cores": os.cpu_count(),
        "backend": store.backend,
        "settings": {
            "jobs": count,
            "users": args.users,
            "photos": len({item.photo for item in mix}),
            "paintings": len({item.painting for item in mix}),
            "photo_side": args.photo_side,
            "size": args.size,
            "iterations": args.iterations,
            "precision": args.precision,
            "device": args.device,
        },
        "worker_ready_s": round(ready_s, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **summarise(jobs, mix, painted, unpaused, complete),
        "gpu": sampler.summary(unpaused, max(finished, default=time.time())),
        "worker_exit": proc.returncode,
        "worker_log_tail": None if complete else tail(log),
    }
    return report


async def _painted(store: JobStore, job: Job) -> Painted | None:
    data = await store.read_file(job.id, PAINTED_NAME) if job.status is JobStatus.DONE else None
    return Painted.from_json(data) if data else None


def summarise(
    jobs: list[Job],
    mix: list[Planned],
    painted: list[Painted | None],
    unpaused: float,
    complete: bool,
) -> dict:
    done = [j for j in jobs if j.status is JobStatus.DONE]
    seconds = sorted(s for j in done if (s := _seconds(j)) is not None)
    last = max((j.finished_at for j in done if j.finished_at), default=None)
    span = (last - unpaused) if last is not None else None
    # The queue's own share: unpaused → first start, and each finish → the next start.
    gap = (span - sum(seconds)) / len(done) if span and len(seconds) == len(done) else None
    first = min(done, key=lambda j: j.started_at or math.inf, default=None)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(unpaused)),
        "complete": complete,
        "done": len(done),
        "failed": sum(j.status is JobStatus.FAILED for j in jobs),
        "other": sum(j.status not in (JobStatus.DONE, JobStatus.FAILED) for j in jobs),
        "span_s": round(span, 2) if span else None,
        "jobs_per_hour": round(len(done) / span * 3600, 1) if span else None,
        "job_s_median": round(statistics.median(seconds), 2) if seconds else None,
        "job_s_p90": round(percentile(seconds, 0.9), 2) if seconds else None,
        "first_job_s": _round(_seconds(first), 2) if first else None,
        "between_jobs_s": _round(gap, 3),
        "painted_sizes": sorted({p.size for p in painted if p}),
        "painted_iterations": sorted({p.iterations for p in painted if p}),
        "jobs": [
            {
                "id": j.id,
                "user": item.user,
                "photo": item.photo,
                "painting": item.painting,
                "status": j.status.value,
                "seconds": _round(_seconds(j), 3),
                "size": p.size if p else None,
                "error": j.error,
            }
            for j, item, p in zip(jobs, mix, painted, strict=True)
        ],
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (values sorted)."""
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def markdown(report: dict) -> str:
    device = report["device"]
    gpu = report.get("gpu")
    sizes = "/".join(map(str, report["painted_sizes"])) or "–"
    iterations = "/".join(map(str, report["painted_iterations"])) or "–"
    utilisation = (
        f"{gpu['util_mean']:.0f} % / {gpu['util_max']:.0f} %, {gpu['memory_used_max_mib']:.0f} MiB"
        if gpu and gpu["samples"]
        else "–"
    )
    settings = report["settings"]
    lines = [
        f"Device: {device['name']}, {device['precision']}; {report['cores']} CPUs; "
        f"job table: {report['backend']}; "
        f"{report['when']}; worker ready in {report['worker_ready_s']} s",
        f"{settings['jobs']} default jobs from {settings['users']} users: "
        f"{settings['photos']} photos ({settings['photo_side']} px long side) × "
        f"{settings['paintings']} paintings, mixed",
        "",
        "| device | px × iterations | jobs | done | failed | jobs/hour | s/job median | "
        "s/job p90 | first job s | GPU util mean / max, memory max |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {device['name']} ({device['precision']}) | {sizes} × {iterations} | "
        f"{settings['jobs']} | {report['done']} | {report['failed']} | "
        f"{_fmt(report['jobs_per_hour'], ',.0f')} | {_fmt(report['job_s_median'], '.2f')} | "
        f"{_fmt(report['job_s_p90'], '.2f')} | {_fmt(report['first_job_s'], '.2f')} | "
        f"{utilisation} |",
    ]
    gap = _fmt(report["between_jobs_s"], ".3f")
    before, after = report["load_average"]
    lines += [
        "",
        f"- between jobs (a finish to the next claim; unpausing to the first): {gap} s a job",
        f"- load average (1 min): {before} before, {after} after",
    ]
    if gpu and gpu["error"]:
        lines.append(f"- nvidia-smi failed ({gpu['samples']} samples kept): {gpu['error']}")
    if not report["complete"]:
        lines += ["", f"NOT complete: {report['other']} job(s) still queued or painting"]
    errors = sorted({j["error"] for j in report["jobs"] if j["error"]})
    lines += [f"- failed: {error}" for error in errors]
    return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, help="default: 40 on CUDA, 5 on a CPU")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--size", type=int, help="IMAGE_SIZE (default: the device's)")
    parser.add_argument("--iterations", type=int, help="ITERATIONS (default: the device's)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="PRECISION")
    parser.add_argument("--device", help="DEVICE (default: auto)")
    parser.add_argument("--photo-side", type=int, default=1280)
    parser.add_argument(
        "--styles-dir", type=Path, help="default: $STYLES_DIR, else styles/, else ../shared/styles"
    )
    parser.add_argument("--database-url", help="an empty PostgreSQL (default: SQLite, temp dir)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the jobs")
    parser.add_argument("--out", type=Path, default=OUT / "worker.json")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1 or args.users < 1:
        parser.error("--jobs and --users must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.styles_dir, missing = styles_with_paintings(args.styles_dir)
    if missing:
        say(f"error: {args.styles_dir} lacks {', '.join(missing)}: run `make styles`")
        return 2
    try:
        report = asyncio.run(run(args))
    except (RuntimeError, TimeoutError) as exc:
        say(f"error: {exc}")
        return 2
    say("")
    say(markdown(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"\nwrote {args.out}")
    return 0 if report["complete"] and not report["failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
