"""CPU-only owners: PRECISION=auto against fp32, and a job inside the bot against the same job
alone.

    python -m bench.bench_cpu                        # both parts, on this machine
    python -m bench.bench_cpu --part precision --sizes 256
    python -m bench.bench_cpu --part bot --size 256 --iterations 300 --repeats 2

Part `precision`: the engine at CPU_ITERATIONS on two photos at each size, once in fp32 and once
with PRECISION=auto (each run its own process, interleaved), wall time and the judged loss of
bench/bench_engine.py. Auto passes when its judged loss is within 3 % of fp32's.

Part `bot`: the same request painted three ways, interleaved: the CLI (`python -m engine
stylize`, painting time as it prints it), a worker alone (`python -m engine worker`, the job's
started → finished time in the table) and `python -m bot` with the engine it supervises, as
`make run` starts them (same), against the fake Bot API of the tests on loopback. While the bot's
job paints, a second user sends a photo: the time until the bot answers is reported too.
Results go to bench/out/cpu.json and, as Markdown, to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_engine import OUT, SHARED_STYLES, _spawn  # noqa: E402
from bench.machine import cpu_name  # noqa: E402

QUALITY_GATE = 0.03  # auto's judged loss may be at most 3 % above fp32's
PHOTOS = ("astronaut", "coffee")
STYLE = "starry-night"
DEADLINE = 1800.0


# ------------------------------------------------------------------------------ precision


def precision_part(sizes: list[int], iterations: int) -> dict:
    runs = []
    for size in sizes:
        for photo in PHOTOS:
            pair = {
                precision: _spawn(
                    "engine", size, iterations, STYLE, precision=precision, photo=photo
                )
                for precision in ("fp32", "auto")
            }
            fp32, auto = pair["fp32"], pair["auto"]
            delta = auto["judged"]["loss"] / fp32["judged"]["loss"] - 1
            runs.append(
                {
                    "size": size,
                    "photo": photo,
                    "auto_chose": auto["precision_chosen"],
                    "reason": auto["precision_reason"],
                    "fp32_s": fp32["wall_s"],
                    "auto_s": auto["wall_s"],
                    "time_ratio": round(auto["wall_s"] / fp32["wall_s"], 3),
                    "fp32_loss": fp32["judged"]["loss"],
                    "auto_loss": auto["judged"]["loss"],
                    "loss_delta": round(delta, 4),
                    "gate_passed": delta <= QUALITY_GATE,
                }
            )
    return {"iterations": iterations, "style": STYLE, "runs": runs}


def precision_table(part: dict) -> str:
    lines = [
        f"{part['iterations']} iterations, *{part['style']}*; auto chose: "
        f"{part['runs'][0]['auto_chose']} ({part['runs'][0]['reason']})",
        "",
        "| size | photo | fp32 s | auto s | auto / fp32 | judged loss fp32 | auto | Δ | ≤ 3 % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in part["runs"]:
        lines.append(
            f"| {r['size']} | {r['photo']} | {r['fp32_s']:.1f} | {r['auto_s']:.1f} | "
            f"{r['time_ratio']:.2f}× | {r['fp32_loss']:.4f} | {r['auto_loss']:.4f} | "
            f"{100 * r['loss_delta']:+.1f} % | {'yes' if r['gate_passed'] else 'NO'} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ bot vs CLI


def _photo_png(name: str) -> bytes:
    import skimage.data
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(out, "PNG")
    return out.getvalue()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", STYLES_DIR=str(SHARED_STYLES))
    env.update(extra)
    return env


def cli_seconds(photo: Path, size: int, iterations: int, workdir: Path) -> float:
    """The CLI's own painting time (it prints it), model loading left out like in the others."""
    cmd = [sys.executable, "-m", "engine", "stylize", str(photo), "--style", STYLE]
    cmd += ["--size", str(size), "--iterations", str(iterations), "--seed", "0"]
    cmd += ["-o", str(workdir / "cli.png")]
    done = subprocess.run(
        cmd, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=DEADLINE, check=True
    )
    match = re.search(r"painted in ([\d.]+) s", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


async def _job_seconds(data_dir: Path, job_id: int) -> float:
    from jobs import JobStatus, JobStore

    async with await JobStore.open(data_dir) as store:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            job = await store.get(job_id)
            if job is not None and job.status is JobStatus.DONE:
                assert job.started_at is not None and job.finished_at is not None
                return job.finished_at - job.started_at
            if job is not None and not job.is_active:
                raise RuntimeError(f"job {job_id} ended {job.status}: {job.error}")
            await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish")


async def worker_seconds(photo: bytes, size: int, iterations: int, workdir: Path) -> float:
    """A worker alone: enqueue the job directly, time it in the table."""
    from jobs import JobOptions, JobStore, StyleRef
    from jobs.testing import new_job

    data = workdir / "worker-data"
    async with await JobStore.open(data) as store:
        new = new_job(
            1,
            styles=(StyleRef(preset=STYLE),),
            options=JobOptions(size=size, iterations=iterations, seed=0),
        )
        job, _ = await store.enqueue(new, {"content.jpg": photo})
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "engine", "worker"),
        cwd=workdir,
        env=_env(DATA_DIR=str(data)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return await _job_seconds(data, job.id)
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def bot_seconds(
    photo: bytes, size: int, iterations: int, workdir: Path
) -> tuple[float, float]:
    """`python -m bot` supervising its engine: the job's painting time, and how long the bot
    took to answer another user's photo sent while it painted."""
    from tests.fake_bot_api import FakeBotAPI, make_user

    data = workdir / "bot-data"
    async with FakeBotAPI() as fake:
        env = _env(
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url,
            DATA_DIR=str(data),
        )
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot"),
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "bot.log").open("ab"),
        )
        try:
            await fake.wait_for("getUpdates", timeout=120)
            caption = f"/style {STYLE} size={size} iterations={iterations} seed=0"
            fake.push(fake.photo_update(photo, caption))
            job_id = await _first_started_job(data)
            other = make_user(2002, "Bob")
            mark = fake.mark()
            sent = time.monotonic()
            fake.push(fake.photo_update(photo, f"/style {STYLE}", user=other))
            answer = await fake.wait_for(
                "sendMessage", lambda c: c.chat_id == other["id"], 30, since=mark
            )
            answered = answer.time - sent
            seconds = await _job_seconds(data, job_id)
        finally:
            await _stop(proc)
    return seconds, answered


async def _first_started_job(data: Path) -> int:
    """The id of the bot's first job, once its engine has started painting it."""
    from jobs import JobStore

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (data / "picasso.db").exists():
            async with await JobStore.open(data) as store:
                jobs = await store.list_jobs(limit=1)
            if jobs and jobs[0].started_at is not None:
                return jobs[0].id
        await asyncio.sleep(0.2)
    log = (data.parent / "bot.log").read_text(errors="replace")[-3000:]
    raise TimeoutError(f"the bot's engine never started the job; its log ends:\n{log}")


def bot_part(size: int, iterations: int, repeats: int) -> dict:
    photo = _photo_png("astronaut")
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
            work = Path(tmp)
            (work / "photo.png").write_bytes(photo)
            cli = cli_seconds(work / "photo.png", size, iterations, work)
            alone = asyncio.run(worker_seconds(photo, size, iterations, work))
            inside, answered = asyncio.run(bot_seconds(photo, size, iterations, work))
        runs.append({"cli_s": cli, "worker_s": alone, "bot_s": inside, "answer_s": answered})
    return {"size": size, "iterations": iterations, "style": STYLE, "runs": runs}


def bot_table(part: dict) -> str:
    lines = [
        f"astronaut, *{part['style']}*, {part['size']} px, {part['iterations']} iterations, "
        "PRECISION=auto everywhere",
        "",
        "| run | CLI s | worker alone s | bot + engine s | bot / CLI | bot answered another "
        "photo in |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(part["runs"], start=1):
        lines.append(
            f"| {n} | {r['cli_s']:.1f} | {r['worker_s']:.1f} | {r['bot_s']:.1f} | "
            f"{r['bot_s'] / r['cli_s']:.2f}× | {r['answer_s']:.2f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["precision", "bot", "all"], default="all")
    parser.add_argument("--sizes", default="256,512", help="precision part")
    parser.add_argument("--precision-iterations", type=int, default=300)
    parser.add_argument("--size", type=int, default=256, help="bot part")
    parser.add_argument("--iterations", type=int, default=300, help="bot part")
    parser.add_argument("--repeats", type=int, default=2, help="bot part")
    args = parser.parse_args(argv)
    report: dict = {"cpu": cpu_name(), "cores": os.cpu_count(), "when": time.ctime()}
    print(f"Machine: {report['cpu']}, {report['cores']} CPUs, {report['when']}\n")
    if args.part in ("precision", "all"):
        sizes = [int(s) for s in args.sizes.split(",")]
        report["precision"] = precision_part(sizes, args.precision_iterations)
        print(precision_table(report["precision"]) + "\n")
    if args.part in ("bot", "all"):
        report["bot"] = bot_part(args.size, args.iterations, args.repeats)
        print(bot_table(report["bot"]) + "\n")
    OUT.mkdir(exist_ok=True)
    (OUT / "cpu.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
